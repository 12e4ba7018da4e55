"""A new user's first contact (issue 21): hints that name the real fault and flags the task has, references checked
before any engine or network call, what an offline build needs said at once, the wrong `invoke`, help that fits."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import Unreachable, in_words
from tests import infra, matrix_facts
from tests.cli import ROOT, invoke


def _one_line(result, code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_compile_hints_only_at_flags_compile_has(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is needed to try the clone") if not infra.in_ci() else pytest.fail("git is missing")
    down = f"http://127.0.0.1:{infra.free_port()}/argo-workflows.git"
    result = invoke("compile", "--argo", matrix_facts.NEWEST_ARGO, "--argo-git", down,
                    env={**os.environ, "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")})
    line = _one_line(result, 4)
    assert "--source DIR" in line and "--argo-git URL" in line
    assert "--argoexec-exe" not in line  # compile has no such flag


@pytest.mark.parametrize("args,flag,scheme", [
    (("build", "--builder", "oci", "--base", "1809", "--to", "https://registry.example.com/argoexec"), "--to",
     "https"),
    (("build", "--builder", "oci", "--base", "1809", "--to", "HTTPS://Registry:xx/Repo"), "--to", "HTTPS"),
    (("push", "--base", "1809", "--to", "http://registry.example.com/argoexec"), "--to", "http"),
    (("publish", "--to", "https://registry.example.com/argoexec", "--readme", ""), "--to", "https"),
    (("build", "--builder", "oci", "--base", "1809", "--mirror", "mcr.microsoft.com=https://reg.example/mcr"),
     "--mirror", "https"),
])
def test_a_scheme_in_a_reference_is_named_as_the_fault(tmp_path, args, flag, scheme):
    extra = ("--docs", str(tmp_path / "docs"), "--db", str(tmp_path / "r.sqlite")) if args[0] == "publish" else ()
    line = _one_line(invoke(*args, *extra), 2)
    assert line.startswith(f"error: {flag} ") and f"an image reference has no scheme; drop '{scheme}://'" in line
    assert "lowercase" not in line and "tag or digest" not in line  # not the misleading complaints of before
    assert not (tmp_path / "docs").exists()


@pytest.mark.parametrize("to", ["https://registry.example.com/argoexec", "Upper/Case", "registry.example/a:tag"])
def test_to_is_checked_before_the_engine_is_asked(tmp_path, to):
    engine = f"tcp://127.0.0.1:{infra.free_port()}"  # nobody listens: asking it first would be exit 4
    result = invoke("build", "--base", "1809", "--engine", engine, "--to", to)
    line = _one_line(result, 2)
    assert line.startswith(f"error: --to {to}: ")
    assert "engine" not in result.stdout + line


def test_an_offline_build_says_what_it_needs_at_once(tmp_path):
    env = {**os.environ, "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache"), "DOCKER_HOST": f"unix://{tmp_path}/no"}
    dry = invoke("build", "--base", "1909", "--to", "registry.example:5000/argoexec", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    network = dry.stdout.split("network this build would use:\n", 1)[1].split("dry run:", 1)[0]
    needs = [line.strip("- ").strip() for line in network.splitlines()]
    assert needs[0].startswith("the Argo source (https://github.com/argoproj/argo-workflows.git; or --argoexec-exe")
    assert needs[1].startswith("Go and its modules")
    assert needs[2] == "the bases of 1909 from mcr.microsoft.com (read; or --mirror mcr.microsoft.com=MIRROR/PATH)"
    assert needs[3].startswith("registry.example:5000 for --to")
    # A real offline run: the first thing it cannot reach (the Argo source here) names all the others too.
    git = f"http://127.0.0.1:{infra.free_port()}/argo.git"
    offline = invoke("build", "--base", "1909", "--argo-git", git, env=env)
    line = _one_line(offline, 4)
    assert line.startswith(f"error: cannot fetch Argo {matrix_facts.NEWEST_ARGO} from {git}")
    assert line.endswith("the bases of 1909 from mcr.microsoft.com (read; or --mirror mcr.microsoft.com=MIRROR/PATH)")
    assert "This build needs from the network: the Argo source" in line and "Go and its modules" in line


def test_failures_are_said_in_words_not_class_names():
    assert in_words(Unreachable("x")) == "unreachable"
    from builder import errors

    kinds = [k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.BuilderError)]
    for kind in kinds:
        words = in_words(kind.__new__(kind))
        assert words != kind.__name__ and " " in words or words in ("unreachable", "failed"), (kind, words)


def test_an_invoke_of_another_environment_says_which_to_run():
    """A Python whose environment has invoke and nothing of the project (no site-packages at all: -S, with only a
    copy of invoke on its path), as when another environment's `invoke` is on PATH: one line, exit 2, no traceback."""
    import invoke as invoke_package

    only_invoke = os.path.dirname(os.path.dirname(invoke_package.__file__))
    stage = ROOT / "test-artifacts" / "only-invoke"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(os.path.join(only_invoke, "invoke"), stage / "invoke")
    for metadata in Path(only_invoke).glob("invoke-*.dist-info"):  # invoke reads its own version from it
        shutil.copytree(metadata, stage / metadata.name)
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
        env["PYTHONPATH"] = str(stage)
        result = subprocess.run([sys.executable, "-S", "-m", "invoke", "--list"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"error: this invoke ({sys.executable}) cannot import the project (No module named 'docker'); "
                    "run .venv/bin/invoke"), line


def test_a_blocked_dependency_is_named(tmp_path):
    code = ("import sys; sys.modules['packaging'] = None; from invoke.main import program; "
            "program.run(['invoke', '--list'])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "packaging" in line and line.startswith("error: this invoke (")


def test_every_tasks_first_help_line_fits_78_columns():
    tree = ast.parse((ROOT / "tasks.py").read_text())
    def is_task(decorator) -> bool:
        return (getattr(decorator, "id", None) or getattr(getattr(decorator, "func", None), "id", None)) == "task"

    tasks = [node for node in tree.body if isinstance(node, ast.FunctionDef) and any(map(is_task, node.decorator_list))]
    assert len(tasks) >= 15
    for node in tasks:
        first = ast.get_docstring(node).splitlines()[0]
        assert len(first) <= 78, (node.name, len(first), first)
    listed = invoke("--list", env={**os.environ, "COLUMNS": "80"})
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())


def test_the_nightly_publishes_to_the_repository_variable_or_ghcr():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    assert workflow["env"]["ARGOEXEC_REPO"] == (
        "${{ vars.ARGOEXEC_REPO || format('ghcr.io/{0}/argoexec', github.repository_owner) }}")
    assert workflow["permissions"]["packages"] == "write"
    text = (ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    logins = [line for line in text.splitlines() if "docker login" in line]
    assert logins and all("vars.REGISTRY || 'ghcr.io'" in line and "secrets.GITHUB_TOKEN" in line for line in logins)
