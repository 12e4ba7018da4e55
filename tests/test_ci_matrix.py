"""The nightly CI matrix comes from matrix.yaml through the plan, and the workflow only calls real tasks."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import yaml

from tests import matrix_facts
from tests.cli import ROOT, invoke
from tests.matrix_facts import BUILDS, RELEASE_NAMES

MATRIX = matrix_facts.TEXT
# What the three runners build natively, each with process isolation on a host of the base's own build.
NATIVE = {"ws2019": "1809", "windows-2022": "ltsc2022", "windows-2025": "ltsc2025"}


def ci_matrix(*args: str, self_hosted: str | None = "ws2019") -> dict:
    """``invoke ci-matrix``, the self-hosted runners that exist named as the nightly names them."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ARGOEXEC_SELF_HOSTED_RUNNERS"}
    if self_hosted is not None:
        env["ARGOEXEC_SELF_HOSTED_RUNNERS"] = self_hosted
    result = invoke("ci-matrix", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_the_variable_no_self_hosted_runner_is_listed_and_it_says_so():
    import os

    env = {k: v for k, v in os.environ.items() if k != "ARGOEXEC_SELF_HOSTED_RUNNERS"}
    result = invoke("ci-matrix", "--argo", "all", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [job["runner"] for job in data["include"]] == ["windows-2022", "windows-2025"]
    assert not any("self-hosted" in job["runs-on"] for job in data["include"])
    # What ws2019 would have built is assembled instead: still nothing skipped, nothing waits for a day.
    assert "1809" in data["oci"]["bases"].split(",")
    assert "left out self-hosted runner ws2019" in result.stderr
    assert "ARGOEXEC_SELF_HOSTED_RUNNERS does not name it" in result.stderr


def test_a_variable_naming_no_runner_is_bad_input():
    import os

    result = invoke("ci-matrix", env={**os.environ, "ARGOEXEC_SELF_HOSTED_RUNNERS": "ws2019,ws2016"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: ARGOEXEC_SELF_HOSTED_RUNNERS=ws2019,ws2016: ws2016 is no runner of matrix.yaml (its runners: "
        "ws2019, windows-2022, windows-2025)"]


def test_each_runner_builds_what_its_host_can_and_the_rest_is_assembled():
    data = ci_matrix("--argo", "all")
    jobs = {job["runner"]: job for job in data["include"]}
    assert list(jobs) == list(matrix_facts.RUNNER_NAMES)
    assert jobs["ws2019"]["build"] == "1809" and jobs["ws2019"]["runs-on"] == ["self-hosted", "windows", "ws2019"]
    assert (jobs["windows-2022"]["build"], jobs["windows-2022"]["smoke"]) == ("ltsc2022", "ltsc2022")
    assert (jobs["windows-2025"]["build"], jobs["windows-2025"]["smoke"]) == ("ltsc2025", "ltsc2022,ltsc2025")
    # Every other base is assembled, in the order of matrix.yaml; the retired releases among them.
    assembled = [b for b in RELEASE_NAMES if b not in NATIVE.values()]
    assert {"1903", "1909", "2004", "20H2"} <= set(assembled)
    assert data["oci"]["bases"] == ",".join(assembled)
    built = [b for job in jobs.values() for b in job["build"].split(",")]
    routed = built + data["oci"]["bases"].split(",")
    assert sorted(routed) == sorted(RELEASE_NAMES)  # nothing skipped, nothing twice


def test_a_hyperv_runner_takes_the_retired_releases(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("registries:\n", "  - name: hv2025\n    host_build: 10.0.26100\n"
                                   "    isolation: [process, hyperv]\n    labels: [self-hosted, windows, hyperv]\n"
                                   "\nregistries:\n", 1))
    data = ci_matrix("--matrix", str(path), self_hosted="ws2019,hv2025")
    jobs = {job["runner"]: job for job in data["include"]}
    assert {jobs[runner]["build"] for runner in NATIVE} == set(NATIVE.values())
    # What no process runner builds goes to hv2025, unless it is newer than its 10.0.26100 host.
    others = [b for b in RELEASE_NAMES if b not in NATIVE.values()]
    hyperv = [b for b in others if int(BUILDS[b].split(".")[2]) <= 26100]
    assert hyperv[:4] == ["1903", "1909", "2004", "20H2"]
    assert jobs["hv2025"]["build"] == ",".join(hyperv)
    assert data["oci"]["bases"] == ",".join(b for b in others if b not in hyperv)


def test_the_workflow_uses_the_matrix_and_only_real_tasks():
    workflow = yaml.safe_load((ROOT / ".github/workflows/nightly.yml").read_text())
    assert workflow["jobs"]["build"]["strategy"]["matrix"]["include"] == \
        "${{ fromJson(needs.plan.outputs.matrix).include }}"
    listed = invoke("--list").stdout
    tasks = {line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line[2] != " "}
    used = set()
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            used.update(re.findall(r"\binvoke ([a-z][a-z.-]*)", step.get("run", "")))
    assert used and used <= tasks, used - tasks


WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))


def test_both_workflows_are_valid_github_workflows():
    """Checked against the GitHub workflow schema check-jsonschema vendors (SchemaStore's), offline."""
    import shutil
    import subprocess
    import sys

    assert {p.name for p in WORKFLOWS} >= {"nightly.yml", "ci.yml"}
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is a test dependency (pip install -e '.[test]')"
    result = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The same check refuses a workflow GitHub would refuse (a job without runs-on).
    broken = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    del broken["jobs"]["test"]["runs-on"]
    bad = Path(tempfile.mkdtemp()) / "broken.yml"
    bad.write_text(yaml.safe_dump(broken))
    refused = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(bad)], capture_output=True,
                             text=True)
    assert refused.returncode == 1 and "runs-on" in refused.stdout + refused.stderr


def _needs(job: dict) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def _upstream(jobs: dict, name: str) -> set[str]:
    found = set()
    for parent in _needs(jobs[name]):
        found |= {parent} | _upstream(jobs, parent)
    return found


def test_the_nightly_runs_refresh_plan_compile_build_smoke_publish_in_that_order_one_at_a_time():
    workflow = yaml.safe_load((ROOT / ".github/workflows/nightly.yml").read_text())
    jobs = workflow["jobs"]
    assert workflow["concurrency"]["group"] and workflow["concurrency"]["cancel-in-progress"] is False
    assert _upstream(jobs, "plan") == {"refresh"}
    assert _upstream(jobs, "build") >= {"refresh", "plan", "compile"}
    assert _upstream(jobs, "smoke") >= {"build", "assemble"}
    assert _upstream(jobs, "publish") >= {"refresh", "build", "assemble", "smoke", "cluster"}

    def runs(job: str) -> str:
        return "\n".join(step.get("run", "") for step in jobs[job]["steps"])

    assert "invoke refresh" in runs("refresh")
    # Build and push are one step that skips unchanged images; nothing pushes without that check.
    for job in ("build", "assemble"):
        assert "--to \"$ARGOEXEC_REPO\" $FORCE" in runs(job)
        # Only what the compile job made is published: never upstream's binary as a fallback (--binary auto).
        builds = [line for line in runs(job).splitlines() if "invoke build" in line]
        assert builds and all("--binary compiled --compiled compiled" in line for line in builds), builds
    assert "invoke push" not in "\n".join(runs(job) for job in jobs)
    # Every job that reads the matrix reads the refreshed lock first.
    for name, job in jobs.items():
        if name == "refresh" or "invoke" not in runs(name):
            continue
        downloads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact")]
        assert any(s.get("with", {}).get("name") == "lock" for s in downloads), name
        order = [s.get("uses", "") or s.get("run", "") for s in job["steps"]]
        first_invoke = next(i for i, text in enumerate(order) if "invoke " in text)
        assert next(i for i, s in enumerate(job["steps"]) if s.get("with", {}).get("name") == "lock") < first_invoke
    # The refreshed lock is committed with the table.
    assert "git add docs README.md matrix.lock.json" in runs("publish")
    # The cluster check runs the published image under test; publish signs the evidence with the repository's key
    # (a file named by ARGOEXEC_BUILDER_SIGNING_KEY), set before it runs.
    assert "--cluster " in runs("cluster") and '--repo "$ARGOEXEC_REPO"' in runs("cluster")
    publish = runs("publish")
    assert publish.index("ARGOEXEC_BUILDER_SIGNING_KEY=") < publish.index("invoke publish")
