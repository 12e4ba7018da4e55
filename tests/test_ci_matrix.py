"""The nightly CI matrix comes from matrix.yaml through the plan, and the workflow only calls real tasks."""

from __future__ import annotations

import json
import re

import yaml

from tests.cli import ROOT, invoke

MATRIX = (ROOT / "matrix.yaml").read_text()


def test_each_runner_builds_what_its_host_can_and_the_rest_is_assembled():
    result = invoke("ci-matrix", "--argo", "all")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jobs = {job["runner"]: job for job in data["include"]}
    assert jobs["ws2019"]["build"] == "1809" and jobs["ws2019"]["runs-on"] == ["self-hosted", "windows", "ws2019"]
    assert (jobs["windows-2022"]["build"], jobs["windows-2022"]["smoke"]) == ("ltsc2022", "ltsc2022")
    assert (jobs["windows-2025"]["build"], jobs["windows-2025"]["smoke"]) == ("ltsc2025", "ltsc2022,ltsc2025")
    assert data["oci"]["bases"] == "1903,1909,2004,20H2"
    routed = {b for job in jobs.values() for b in job["build"].split(",")} | set(data["oci"]["bases"].split(","))
    assert routed == {"1809", "1903", "1909", "2004", "20H2", "ltsc2022", "ltsc2025"}  # nothing skipped


def test_a_hyperv_runner_takes_the_retired_releases(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("registries:\n", "  - name: hv2025\n    host_build: 10.0.26100\n"
                                   "    isolation: [process, hyperv]\n    labels: [self-hosted, windows, hyperv]\n"
                                   "\nregistries:\n", 1))
    data = json.loads(invoke("ci-matrix", "--matrix", str(path)).stdout)
    jobs = {job["runner"]: job for job in data["include"]}
    assert jobs["hv2025"]["build"] == "1903,1909,2004,20H2"
    assert data["oci"]["bases"] == ""


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
