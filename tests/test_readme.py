"""The README's promises stay true: its test command is what CI runs, its examples are real output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli import ROOT, invoke

README = (ROOT / "README.md").read_text()
# The image builder's manual: the README's internals moved there, with examples tested like the README's.
BUILDING = (ROOT / "docs" / "building.md").read_text()


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
    example = README.split("$ .venv/bin/invoke compat --host 10.0.17763 --image 10.0.20348\n", 1)[1].split("```", 1)[0]
    result = invoke("compat", "--host", "10.0.17763", "--image", "10.0.20348")
    assert result.stdout == example


def test_readme_plan_example_matches(tmp_path):
    result = invoke("plan", "--base", "1809,1909", "--host-build", "10.0.17763", "--json")
    assert result.returncode == 0
    assert "a Windows engine on a 10.0.17763 host refuses to pull a newer 10.0.18363-based image" in result.stdout
    assert "a Windows engine on a 10.0.17763 host refuses to pull a newer 10.0.18363-based image" in README


# The tasks a README example may run here as written: they need no engine, registry, network or Windows host.
OFFLINE_TASKS = ("plan", "compat", "table", "render", "ci-matrix", "which")
# A placeholder the reader replaces (HOST, REGISTRY/argoexec, MIRROR/mcr): such an example is not run as written.
PLACEHOLDER_RE = re.compile(r"\b[A-Z]{3,}\b")


def _examples() -> list[str]:
    """The `$ ` lines of the README's console blocks that run offline, as written (comments removed): a tool
    invocation alone (a line that pipes into or chains another program, jq or helm, is not run here)."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            if not line.startswith("$ "):
                continue
            command = line[2:].split("  #", 1)[0].strip()
            words = command.split()
            if len(words) > 1 and words[0] == ".venv/bin/invoke" and words[1] in OFFLINE_TASKS \
                    and not any(c in command for c in "|&;>") and not PLACEHOLDER_RE.search(command):
                found.append(command)
    return found


def test_every_readme_command_calls_invoke_the_way_the_set_up_provides():
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ ") and "invoke" in line.split()[1]:
                assert line.split()[1] == ".venv/bin/invoke", line


@pytest.mark.integration
def test_the_readme_commands_run_as_written_in_a_fresh_clone(tmp_path):
    """A copy of the repository's files, the set-up command as written (a fresh venv), then each offline
    example as written, from a shell whose PATH has no virtual environment on it."""
    import os
    import shutil
    import subprocess

    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    clone = tmp_path / "clone"
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not (Path(p) / "activate").exists())
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=path, COLUMNS="120", ARGOEXEC_BUILDER_CACHE=str(tmp_path / "cache"))
    main_job = _commands()[0]
    done = subprocess.run(["bash", "-c", main_job], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    examples = _examples()
    assert len(examples) >= 2, examples
    for command in examples:
        result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, (command, result.stdout[-1000:], result.stderr[-1000:])


def test_readme_which_examples_are_real_output(tmp_path):
    from builder import store

    db = tmp_path / "r.sqlite"
    store.connect(db).close()  # no records: the rules' predictions, as the README shows
    for command in ("which --node 2019 --argo v4.1.2", "which --node 2025 --format helm"):
        result = invoke(*command.split(), "--db", str(db), "--offline")
        assert result.returncode == 0, result.stderr
        assert f"$ .venv/bin/invoke {command}" in README
    text = invoke("which", "--offline", "--node", "2019", "--argo", "v4.1.2", "--db", str(db)).stdout
    example = README.split("$ .venv/bin/invoke which --node 2019 --argo v4.1.2\n", 1)[1].split("```", 1)[0]
    assert text == example
    helm = invoke("which", "--offline", "--node", "2025", "--format", "helm", "--db", str(db)).stdout
    assert README.split("$ cat executor-values.yaml\n", 1)[1].split("```", 1)[0] == helm


def test_readme_plan_text_example_is_real_output_at_80_columns():
    import os

    example = BUILDING.split("$ COLUMNS=80 .venv/bin/invoke plan --base 1809,1909\n", 1)[1].split("$ ", 1)[0]
    result = invoke("plan", "--base", "1809,1909", env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0 and result.stdout == example


def test_readme_plan_json_example_is_real_output():
    import json

    lines = README.split("| [.id, .built_by, .build, .reason] | @tsv'\n", 1)[1].split("```", 1)[0].splitlines()
    result = invoke("plan", "--base", "1809,1909", "--host-build", "10.0.17763", "--json")
    fields = ("id", "built_by", "build", "reason")
    shown = ["\t".join(str(p[k] or "") for k in fields) for p in json.loads(result.stdout)]
    assert lines == shown


def test_the_readme_is_short_and_leads_with_both_quick_starts():
    lines = README.splitlines()
    assert len(lines) <= 300, len(lines)
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[:4] == ["## Contents", "## Set up", "## Quick start: cluster owners",
                            "## Quick start: image builders"]
    # The table of contents links every section, and each link's anchor is a heading.
    contents = README.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    anchors = re.findall(r"\]\(#([a-z0-9-]+)\)", contents)
    slugs = {re.sub(r"[^a-z0-9 -]", "", h[3:].lower()).replace(" ", "-") for h in headings}
    assert anchors and set(anchors) <= slugs and len(anchors) == len(headings) - 1
    # The compatibility section is a summary between the markers, with the full table linked; once, not per version.
    section = README.split("<!-- compatibility:start -->", 1)[1].split("<!-- compatibility:end -->", 1)[0]
    assert "[docs/compatibility.md](docs/compatibility.md)" in section and README.count("#### argoexec") == 0
    assert len(section.splitlines()) < 25
    # The placeholder repository is said at the top of the cluster owners' part, naming the setting.
    owners = README.split("## Quick start: cluster owners", 1)[1].split("```", 1)[0]
    assert "placeholder" in owners and "registries.publish" in owners
    # Every docs page the README links exists, and the internals are there.
    for link in set(re.findall(r"\]\((docs/[^)#]+)", README)):
        assert (ROOT / link).is_file(), link
    for page, heading in (("building.md", "## Every task"), ("nightly.md", "## Incremental builds"),
                          ("which.md", "## The compatibility table"), ("testing.md", "# What is verified where"),
                          ("runners.md", "## `invoke doctor`"), ("architecture.md", "## Development")):
        assert heading in (ROOT / "docs" / page).read_text(), page


def test_the_which_manual_example_is_real_output_at_80_columns(tmp_path):
    import os

    from builder import store

    db = tmp_path / "r.sqlite"
    store.connect(db).close()
    manual = (ROOT / "docs" / "which.md").read_text()
    command = "$ COLUMNS=80 .venv/bin/invoke which --node 10.0.19045 --argo v4.1.2 --verbose\n"
    example = manual.split(command, 1)[1].split("```", 1)[0]
    result = invoke("which", "--offline", "--node", "10.0.19045", "--argo", "v4.1.2", "--verbose", "--db", str(db),
                    env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0 and result.stdout == example
