"""--go auto with a local Go of 1.21 or later that is older than go.mod's: Go's own toolchain switch, said out loud.

The local Go is a stand-in (tests/go_standin.py) that reports the version a test gives it and records every
run's environment, so the tests see what make's go really ran with. The Argo tree is the stand-in of
tests/argo_standin.py with go.mod's ``go`` line set to what each test needs; no engine is reachable.
"""

from __future__ import annotations

import json
import os

import pytest

from builder.compile import compile_argoexec, toolchain_name
from builder.errors import EXIT_BAD_INPUT, EXIT_UNREACHABLE, BuilderError
from tests import infra
from tests.argo_standin import make_standin
from tests.go_standin import console_exe, make_go

TAG = "v4.1.2"


@pytest.fixture()
def tools():
    """make, git and bash: the stand-in tree's Makefile runs under them (the tests using this are integration)."""
    for tool in ("make", "git", "bash"):
        infra.require_binary(tool)


def _setup(tmp_path, monkeypatch, local: str, go_mod: str, **kwargs):
    """A stand-in tree whose go.mod says ``go_mod``, and a stand-in ``go`` of ``local`` first on PATH."""
    tree = make_standin(tmp_path / "tree", tag=TAG, go=go_mod)
    go = make_go(tmp_path / "go-bin", local, **kwargs)
    monkeypatch.setenv("PATH", os.pathsep.join([str(go.folder), os.environ.get("PATH", "")]))
    return tree, go


def _compile(tmp_path, tree, mode: str = "auto", lines: list[str] | None = None):
    return compile_argoexec(TAG, output=tmp_path / "out", go=mode, source=tree.path, cache=tmp_path / "cache",
                            engine_url=f"unix://{tmp_path}/no-engine.sock",
                            progress=lines.append if lines is not None else None)


def _one_line(excinfo, exit_code: int) -> str:
    error = excinfo.value
    assert isinstance(error, BuilderError) and error.exit_code == exit_code, (type(error), error)
    assert "\n" not in error.message
    return error.message


@pytest.mark.integration
def test_auto_runs_go_mods_toolchain_through_gotoolchain_and_the_provenance_names_it(tmp_path, monkeypatch, tools):
    tree, go = _setup(tmp_path, monkeypatch, "go1.22.12", "1.26.5")
    lines: list[str] = []
    result = _compile(tmp_path, tree, lines=lines)

    # One line says which toolchain is fetched and why.
    [said] = [line for line in lines if line.startswith("go: local ")]
    assert said.startswith("go: local go1.22.12 from PATH, older than go.mod's 1.26.5, told to run go1.26.5 "
                           "(GOTOOLCHAIN=go1.26.5: Go fetches it through the module proxy, checked against the "
                           "checksum database) (auto: docker was not usable: cannot reach the Docker engine")
    # What compile really ran with: every go that make ran (list, mod vendor, build) had GOTOOLCHAIN=go1.26.5,
    # and so ran go1.26.5; the fetch happened once, before make.
    runs = go.runs()
    assert runs[0]["argv"] == ["version"] and runs[0]["env"]["GOTOOLCHAIN"] == "local"  # reading the local Go
    assert runs[1]["argv"] == ["version"] and runs[1]["ran"] == "go1.26.5"  # the fetch
    made = runs[2:]
    assert [r["argv"][:2] for r in made if r["argv"][0] != "list"] == [["mod", "vendor"], ["build", "-v"]]
    assert all(r["env"]["GOTOOLCHAIN"] == "go1.26.5" and r["ran"] == "go1.26.5" for r in made), made
    build = made[-1]
    assert build["env"]["GOOS"] == "windows" and build["env"]["GOARCH"] == "amd64"
    assert build["env"]["GOFLAGS"] == "-trimpath -buildvcs=false" and build["env"]["CGO_ENABLED"] == "0"
    assert result.exe.read_bytes() == console_exe() + b"built by go1.26.5"

    record = json.loads(result.provenance.read_text())
    assert record["go_version"] == "go1.26.5" and record["go_how"] == "local"
    assert record["go_toolchain"] == "go1.26.5" and record["env"]["GOTOOLCHAIN"] == "go1.26.5"
    assert record["go_obtained"].startswith("local go1.22.12 from PATH, older than go.mod's 1.26.5, told to run "
                                            "go1.26.5 (GOTOOLCHAIN=go1.26.5")

    # Cached by the toolchain that compiled: the second call fetches and compiles nothing.
    before = len(go.runs())
    again = _compile(tmp_path, tree)
    assert again.cached and again.sha256 == result.sha256
    assert [r["argv"] for r in go.runs()[before:]] == [["version"]]  # only the local Go's version, again


@pytest.mark.integration
def test_a_go_mod_language_version_runs_its_first_release(tmp_path, monkeypatch, tools):
    tree, go = _setup(tmp_path, monkeypatch, "go1.22.12", "1.23")
    result = _compile(tmp_path, tree)
    assert result.go_version == "go1.23.0"
    assert {r["env"]["GOTOOLCHAIN"] for r in go.runs()[1:]} == {"go1.23.0"}


@pytest.mark.parametrize(("wanted", "name"), [
    ("1.26.5", "go1.26.5"), ("1.22", "go1.22.0"), ("1.21", "go1.21.0"), ("1.21rc2", "go1.21rc2"), ("1.20", "go1.20"),
])
def test_toolchain_names(wanted, name):
    assert toolchain_name(wanted) == name


@pytest.mark.integration
def test_go_local_keeps_gotoolchain_local(tmp_path, monkeypatch, tools):
    tree, go = _setup(tmp_path, monkeypatch, "go1.22.12", "1.26.5")
    with pytest.raises(BuilderError) as excinfo:
        _compile(tmp_path, tree, mode="local")
    assert _one_line(excinfo, EXIT_BAD_INPUT).startswith(
        f"go.mod wants Go 1.26.5, found go1.22.12 ({go.folder}/go): install Go >= 1.26.5 or use --go docker "
        "or --go auto")
    assert [(r["argv"], r["env"]["GOTOOLCHAIN"]) for r in go.runs()] == [(["version"], "local")]


@pytest.mark.integration
def test_a_go_too_old_to_switch_and_no_engine_is_no_toolchain(tmp_path, monkeypatch, tools):
    tree, go = _setup(tmp_path, monkeypatch, "go1.20.14", "1.26.5")
    with pytest.raises(BuilderError) as excinfo:
        _compile(tmp_path, tree)
    message = _one_line(excinfo, EXIT_BAD_INPUT)
    assert message.startswith("no Go to compile argoexec with: docker: cannot reach the Docker engine")
    assert message.endswith("local: go.mod wants Go 1.26.5, found go1.20.14 "
                            f"({go.folder}/go), older than 1.21 (the first Go that fetches go.mod's toolchain): "
                            "install Go >= 1.26.5 or use --go docker")


@pytest.mark.integration
def test_a_refused_toolchain_download_is_one_line_and_nothing_is_compiled(tmp_path, monkeypatch, tools):
    tree, go = _setup(tmp_path, monkeypatch, "go1.22.12", "1.26.5")
    monkeypatch.setenv("GOPROXY", "off")
    with pytest.raises(BuilderError) as excinfo:
        _compile(tmp_path, tree)
    assert _one_line(excinfo, EXIT_UNREACHABLE) == (
        "local go1.22.12 from PATH could not fetch go1.26.5 (GOTOOLCHAIN=go1.26.5): go: download go1.26.5: "
        "golang.org/toolchain@v0.0.1-go1.26.5.linux-amd64: module lookup disabled by GOPROXY=off; let Go reach "
        "its module proxy (GOPROXY, GOSUMDB) or install Go >= 1.26.5")
    assert not any(r["argv"][0] in ("build", "mod") for r in go.runs())
    assert not (tree.path / "dist").exists()


@pytest.mark.integration
def test_a_toolchain_the_proxy_does_not_have_is_bad_input(tmp_path, monkeypatch, tools):
    tree, _ = _setup(tmp_path, monkeypatch, "go1.22.12", "1.99.1", unavailable=("go1.99.1",))
    with pytest.raises(BuilderError) as excinfo:
        _compile(tmp_path, tree)
    assert "go: download go1.99.1 for linux/amd64: toolchain not available" in _one_line(excinfo, EXIT_BAD_INPUT)
