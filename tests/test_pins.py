"""Pinned tools: the test extras are exact, constraints.txt pins everything they pull in, CI installs with it,
and tasks.py's import check names every runtime dependency pyproject.toml declares."""

from __future__ import annotations

import ast
import re
import sys

import pytest

from tests.cli import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[a-z,]+\])?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version and _NAME_RE.fullmatch(name), f"constraints.txt: {line!r} is not NAME==VERSION"
        pins[_canonical(name)] = version
    return pins


def test_test_extras_are_pinned_exactly_and_agree_with_the_constraints():
    constraints = _constraints()
    for requirement in PYPROJECT["project"]["optional-dependencies"]["test"]:
        name, sep, version = requirement.partition("==")
        assert sep and re.fullmatch(r"[0-9][0-9A-Za-z.]*", version), f"test extra {requirement!r}: pin it with =="
        assert constraints.get(_canonical(name)) == version, f"constraints.txt disagrees on {name}"


def test_constraints_cover_every_runtime_dependency():
    constraints = _constraints()
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = _NAME_RE.match(requirement).group(1)
        assert _canonical(name) in constraints, f"constraints.txt does not pin {name}"
    assert "paramiko" in constraints  # docker's ssh extra


def test_ci_installs_with_the_constraints_and_checks_types():
    ci = (ROOT / ".ci" / "run").read_text()
    export = ci.index('export PIP_CONSTRAINT="$PWD/constraints.txt"')
    assert export < ci.index("pip install")  # before every install, the README's verbatim command included
    assert "\n.venv/bin/mypy builder\n" in ci


def test_the_import_check_names_every_dependency():
    """tasks.py tells an `invoke` of another environment which import failed; a dependency it does not
    know of would surface as a traceback instead."""
    tree = ast.parse((ROOT / "tasks.py").read_text())
    declared = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    and any(getattr(t, "id", None) == "DEPENDENCY_MODULES" for t in node.targets))
    dependencies = {_NAME_RE.match(r).group(0).lower() for r in PYPROJECT["project"]["dependencies"]}
    assert set(declared) == dependencies
    assert declared["docker[ssh]"] == ("docker", "paramiko")
