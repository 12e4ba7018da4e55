"""The nightly CI matrix comes from matrix.yaml through the plan, and the workflow only calls real tasks."""

from __future__ import annotations

import json
import re

import yaml

from tests import matrix_facts
from tests.cli import ROOT, invoke
from tests.matrix_facts import BUILDS, RELEASE_NAMES

MATRIX = matrix_facts.TEXT
# What the three runners build natively, each with process isolation on a host of the base's own build.
NATIVE = {"ws2019": "1809", "windows-2022": "ltsc2022", "windows-2025": "ltsc2025"}


def ci_matrix(*args: str) -> dict:
    result = invoke("ci-matrix", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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
    data = ci_matrix("--matrix", str(path))
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
