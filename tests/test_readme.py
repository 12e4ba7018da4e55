"""The README's promises stay true: its test command is what CI runs, its examples are real output."""

from __future__ import annotations

import re

from tests.cli import ROOT, invoke

README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command():
    main_job, test_command = _commands()[:2]
    assert "invoke" in main_job and "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
    # The GitHub workflow of pushes and pull requests runs it too, as written.
    import yaml
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert [step.get("run") for step in workflow["jobs"]["test"]["steps"]][-1] == test_command


def test_readme_compat_example_is_real_output():
    example = README.split("$ invoke compat --host 10.0.17763 --image 10.0.20348\n", 1)[1].split("```", 1)[0]
    result = invoke("compat", "--host", "10.0.17763", "--image", "10.0.20348")
    assert result.stdout == example


def test_readme_plan_example_matches(tmp_path):
    result = invoke("plan", "--base", "1809,1909", "--host-build", "10.0.17763", "--json")
    assert result.returncode == 0
    assert "a Windows engine on a 10.0.17763 host refuses to pull a newer 10.0.18363-based image" in result.stdout
    assert "a Windows engine on a 10.0.17763 host refuses to pull a newer 10.0.18363-based image" in README


def test_readme_plan_text_example_is_real_output_at_80_columns():
    import os

    example = README.split("$ COLUMNS=80 invoke plan --base 1809,1909\n", 1)[1].split("$ ", 1)[0]
    result = invoke("plan", "--base", "1809,1909", env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0 and result.stdout == example


def test_readme_plan_json_example_is_real_output():
    import json

    lines = README.split("| [.id, .built_by, .build, .reason] | @tsv'\n", 1)[1].split("$ ", 1)[0].splitlines()
    result = invoke("plan", "--base", "1809,1909", "--host-build", "10.0.17763", "--json")
    fields = ("id", "built_by", "build", "reason")
    shown = ["\t".join(str(p[k] or "") for k in fields) for p in json.loads(result.stdout)]
    assert lines == shown
