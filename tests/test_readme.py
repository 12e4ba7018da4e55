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


def test_readme_which_examples_are_real_output(tmp_path):
    from builder import store

    db = tmp_path / "r.sqlite"
    store.connect(db).close()  # no records: the rules' predictions, as the README shows
    for command in ("which --node 10.0.19045 --argo v4.1.2", "which --node 2025 --format helm"):
        result = invoke(*command.split(), "--db", str(db))
        assert result.returncode == 0, result.stderr
        assert f"$ invoke {command}" in README
    text = invoke("which", "--node", "10.0.19045", "--argo", "v4.1.2", "--db", str(db)).stdout
    example = README.split("$ invoke which --node 10.0.19045 --argo v4.1.2\n", 1)[1].split("```", 1)[0]
    assert text == example
    helm = invoke("which", "--node", "2025", "--format", "helm", "--db", str(db)).stdout
    assert README.split("$ cat executor-values.yaml\n", 1)[1].split("```", 1)[0] == helm
