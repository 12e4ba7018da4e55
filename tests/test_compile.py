"""builder.compile: argoexec.exe cross-compiled on Linux from a stand-in Argo tree (tests/argo_standin.py).

Needs Debian's golang-go (Go 1.19: the stand-in's go.mod says ``go 1.19``) and wine (runs the binary).
Under ``CI=true`` a missing tool fails the test instead of skipping it, like tests/infra.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder import __version__
from builder.compile import compile_argoexec, go_satisfies, windows_exe_problem
from builder.errors import EXIT_BAD_INPUT, EXIT_TARGET_FAILED, EXIT_UNREACHABLE, BuilderError
from tests import infra
from tests.argo_standin import COMMIT_DATE, MAIN_GO, MAKEFILE, git, make_standin

TAG = "v4.1.2"
SECRET_REMOTE = "https://suite-user:s3cret-remote-token@example.invalid/argo-workflows.git"


def need(tool: str, package: str) -> str:
    return infra.require_binary(tool)  # infra names the Debian package


@pytest.fixture(scope="session")
def go_binary() -> str:
    need("make", "make")
    need("git", "git")
    return need("go", "golang-go")


@pytest.fixture(scope="session")
def local_go_version(go_binary) -> str:
    out = subprocess.run([go_binary, "version"], check=True, capture_output=True, text=True).stdout
    return re.search(r"go version (go\S+)", out).group(1)


@pytest.fixture(scope="session")
def wine(tmp_path_factory):
    """Run a Windows program under Wine: wine(exe, *args) -> CompletedProcess. One prefix per session."""
    binary = need("wine", "wine")
    prefix = tmp_path_factory.mktemp("wineprefix")
    # No Mono/Gecko install prompts in a new prefix; no debug channels.
    env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}

    def run(exe: Path, *args: str) -> subprocess.CompletedProcess:
        # The first start in a new prefix sets it up (several seconds, notices on stderr).
        return subprocess.run([binary, str(exe), *args], env=env, capture_output=True, text=True, timeout=300)

    yield run
    server = shutil.which("wineserver")
    if server:  # this prefix's server only
        subprocess.run([server, "-k"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def standin(tmp_path_factory, go_binary):
    tree = make_standin(tmp_path_factory.mktemp("argo") / "tree", tag=TAG)
    git(tree.path, "remote", "add", "origin", SECRET_REMOTE)
    return tree


@pytest.fixture(scope="module")
def first(standin, tmp_path_factory):
    """One compile of the stand-in with --go local: (Compiled, progress lines, cache folder)."""
    cache = tmp_path_factory.mktemp("cache")
    lines: list[str] = []
    result = compile_argoexec(TAG, output=tmp_path_factory.mktemp("out"), go="local", source=standin.path,
                              cache=cache, progress=lines.append)
    return result, lines, cache


def one_line_error(excinfo, exit_code: int) -> str:
    error = excinfo.value
    assert isinstance(error, BuilderError)
    assert error.exit_code == exit_code, (type(error).__name__, error.message)
    assert "\n" not in error.message and error.message.strip()
    return error.message


# -- compiling --------------------------------------------------------------------------------------------

def test_local_compile_gives_a_windows_console_exe_with_provenance(first, standin, local_go_version):
    result, lines, _ = first
    assert not result.cached
    assert result.exe == result.exe.parent / "argoexec.exe"
    assert result.exe.parent.parts[-4:] == ("dist", "bin", TAG, "windows-amd64")
    data = result.exe.read_bytes()
    # Headers read here too, independently of the module's check.
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    assert data[:2] == b"MZ" and data[pe:pe + 4] == b"PE\0\0"
    assert struct.unpack_from("<H", data, pe + 4)[0] == 0x8664
    assert struct.unpack_from("<H", data, pe + 24)[0] == 0x20B
    assert struct.unpack_from("<H", data, pe + 24 + 68)[0] == 3
    assert windows_exe_problem(data) is None

    record = json.loads(result.provenance.read_text())
    import hashlib

    assert record["sha256"] == hashlib.sha256(data).hexdigest() == result.sha256
    assert record["size"] == len(data)
    assert record["go_version"] == local_go_version and record["go_how"] == "local"
    assert record["git_commit"] == standin.commit and record["git_tag"] == TAG
    assert record["git_tree_state"] == "clean" and record["git_tag_from"] == "git describe"
    assert record["tool_version"] == __version__
    assert record["build_date"] == COMMIT_DATE
    # The remote's credentials never reach the provenance.
    assert record["source_url"] == "https://example.invalid/argo-workflows.git"
    assert "s3cret" not in result.provenance.read_text()
    # make's variables are separate argv items.
    assert record["make"][:2] == ["make", "dist/argoexec"]
    assert f"GIT_COMMIT={standin.commit}" in record["make"] and f"GIT_TAG={TAG}" in record["make"]
    assert "GIT_TREE_STATE=clean" in record["make"]
    assert record["env"]["GOOS"] == "windows" and record["env"]["CGO_ENABLED"] == "0"
    assert "-trimpath" in record["env"]["GOFLAGS"]
    assert any(line.startswith("go: local go1.") for line in lines)


def test_runs_under_wine_with_upstreams_version_output(first, standin, wine, local_go_version):
    result = first[0]
    run = wine(result.exe, "version")
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout.replace("\r\n", "\n")
    assert out.splitlines()[0] == f"argoexec: {TAG}"
    for line in (f"BuildDate: {COMMIT_DATE}", f"GitCommit: {standin.commit}", "GitTreeState: clean",
                 f"GitTag: {TAG}", f"GoVersion: {local_go_version}", "Compiler: gc", "Platform: windows/amd64"):
        assert f"  {line}\n" in out, out


def test_same_sha256_when_compiled_again_without_cache(first, standin, tmp_path, monkeypatch):
    # Another folder (same commit: same files, dates and message), an empty binary cache and an empty Go build
    # cache: everything is compiled again, and -trimpath plus BUILD_DATE from the commit give the same bytes.
    tree = make_standin(tmp_path / "elsewhere", tag=TAG)
    assert tree.commit == standin.commit
    monkeypatch.setenv("GOCACHE", str(tmp_path / "gocache"))
    again = compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "cache")
    assert not again.cached and (tmp_path / "gocache").is_dir()
    assert again.sha256 == first[0].sha256
    assert again.exe.read_bytes() == first[0].exe.read_bytes()


def test_second_call_is_cached_and_runs_no_make(first, standin, tmp_path):
    result, _, cache = first
    [entry] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    before = (entry / "argoexec.exe.json").stat().st_mtime_ns
    shutil.rmtree(standin.path / "dist")  # make would write dist/argoexec again
    lines: list[str] = []
    again = compile_argoexec(TAG, output=tmp_path / "out", go="local", source=standin.path, cache=cache,
                             progress=lines.append)
    assert again.cached
    assert any(line.startswith("cached: ") for line in lines), lines
    assert not any("make dist/argoexec" in line or "go build" in line for line in lines), lines
    assert not (standin.path / "dist").exists()
    assert (entry / "argoexec.exe.json").stat().st_mtime_ns == before
    assert again.sha256 == result.sha256 and again.exe.read_bytes() == result.exe.read_bytes()
    assert json.loads(again.provenance.read_text()) == json.loads(result.provenance.read_text())


def test_dirty_tree_is_stamped_dirty_and_never_cached(tmp_path, go_binary, wine):
    tree = make_standin(tmp_path / "tree", tag=TAG)
    (tree.path / "cmd/argoexec/main.go").write_text(MAIN_GO + "\n// a local change\n")
    cache = tmp_path / "cache"
    for _ in range(2):
        lines: list[str] = []
        result = compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=cache,
                                  progress=lines.append)
        assert not result.cached and result.tree_state == "dirty"
        assert any(line.startswith("not cached: the tree is dirty") for line in lines), lines
    assert not cache.exists() or not any(cache.iterdir())
    out = wine(result.exe, "version").stdout
    assert out.splitlines()[0].strip() == f"argoexec: {TAG}+{tree.commit[:7]}.dirty"
    assert "GitTreeState: dirty" in out


def test_cached_clone_of_a_tag_from_a_git_url(tmp_path, monkeypatch, go_binary):
    tree = make_standin(tmp_path / "upstream", tag=TAG)
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    url = f"file://{tree.path}"
    result = compile_argoexec(TAG, output=tmp_path / "out", go="local", argo_git=url)
    record = json.loads(result.provenance.read_text())
    assert record["git_commit"] == tree.commit and record["git_tag_from"] == "cached clone"
    assert record["source_url"] == url and record["git_tree_state"] == "clean"
    assert (tmp_path / "cache" / "argoexec-bin").is_dir()  # the default cache is under the cache folder
    assert compile_argoexec(TAG, output=tmp_path / "out", go="local", argo_git=url).cached


def test_untagged_commit_of_a_local_tree_uses_the_given_tag(tmp_path, go_binary):
    tree = make_standin(tmp_path / "fork", tag=None)
    result = compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "c")
    record = json.loads(result.provenance.read_text())
    assert record["git_tag"] == TAG and record["git_tag_from"] == "given"
    assert record["source_url"] is None


# -- failures: one line each ------------------------------------------------------------------------------

def _tree_and_no_go(tmp_path, monkeypatch):
    """A stand-in tree, and a PATH that has git but no Go (nor make)."""
    tree = make_standin(tmp_path / "tree", tag=TAG)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(bin_dir))
    return tree


def test_no_go_on_path(tmp_path, monkeypatch, go_binary):
    tree = _tree_and_no_go(tmp_path, monkeypatch)
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "c")
    message = one_line_error(excinfo, EXIT_BAD_INPUT)
    assert message == "no Go on PATH: install Go >= 1.19 or use --go docker"


def test_go_older_than_go_mod(tmp_path, go_binary, local_go_version):
    tree = make_standin(tmp_path / "tree", tag=TAG, go="1.99")
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "c")
    message = one_line_error(excinfo, EXIT_BAD_INPUT)
    assert message.startswith(f"go.mod wants Go 1.99, found {local_go_version} ")
    assert "install Go >= 1.99 or use --go docker" in message


def test_failing_make_target_gives_makes_last_line(tmp_path, go_binary):
    broken = MAIN_GO.replace("func main() {", "func main() {\n\tundefinedCall()", 1)
    tree = make_standin(tmp_path / "tree", tag=TAG, main_go=broken)
    lines: list[str] = []
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "c",
                         progress=lines.append)
    message = one_line_error(excinfo, EXIT_TARGET_FAILED)
    assert message.startswith("make dist/argoexec failed (exit 2): ")
    assert lines[-1].startswith("make: *** ") and lines[-1] in message
    assert "undefined: undefinedCall" in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("argoexec.exe"))


def test_make_failure_is_redacted(tmp_path, monkeypatch, go_binary):
    monkeypatch.setenv("SUITE_REGISTRY_TOKEN", "tok-9f8e7d6c5b4a")
    makefile = MAKEFILE.split("dist/argoexec:")[0] + (
        "dist/argoexec:\n\t@echo \"proxy rejected token $$SUITE_REGISTRY_TOKEN\" >&2; exit 3\n")
    tree = make_standin(tmp_path / "tree", tag=TAG, makefile=makefile)
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "c")
    message = one_line_error(excinfo, EXIT_TARGET_FAILED)
    assert "tok-9f8e7d6c5b4a" not in message and "***" in message and "Error 3" in message


def test_makefile_ignoring_goos_is_refused(tmp_path, go_binary):
    # Like upstream's Darwin branch of dist/argoexec: GOOS/GOARCH forced to linux/amd64.
    makefile = MAKEFILE.replace("\tCGO_ENABLED=0 go build", "\tCGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build")
    tree = make_standin(tmp_path / "tree", tag=TAG, makefile=makefile)
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="local", source=tree.path, cache=tmp_path / "c")
    message = one_line_error(excinfo, EXIT_TARGET_FAILED)
    assert "not a PE32+ x86-64 Windows console executable (no MZ header (an ELF file" in message


@pytest.mark.parametrize(("mode", "tag", "source", "expected"), [
    ("gccgo", TAG, None, "--go gccgo: expected one of: auto, local, docker"),
    ("local", "../v4.1.2", None, "--argo '../v4.1.2': not a tag"),
    ("local", TAG, "missing", "--source {tmp}/missing: no such folder"),
    ("local", TAG, "plain", "--source {tmp}/plain: not a git checkout with a commit"),
])
def test_bad_input(tmp_path, mode, tag, source, expected):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/go.mod").write_text("module x\n\ngo 1.19\n")
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(tag, output=tmp_path / "out", go=mode, source=tmp_path / source if source else None,
                         cache=tmp_path / "c")
    assert one_line_error(excinfo, EXIT_BAD_INPUT).startswith(expected.format(tmp=tmp_path))


# -- Go from Docker ---------------------------------------------------------------------------------------

def test_docker_mode_without_a_reachable_engine(tmp_path):
    tree = make_standin(tmp_path / "tree", tag=TAG)
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="docker", source=tree.path, cache=tmp_path / "c",
                         engine_url=f"unix://{tmp_path}/no-engine.sock")
    assert one_line_error(excinfo, EXIT_UNREACHABLE).startswith("cannot reach the Docker engine at unix://")


@pytest.mark.engine
def test_docker_mode_cannot_pull_golang_on_an_offline_engine(tmp_path, docker_engine):
    tree = make_standin(tmp_path / "tree", tag=TAG)
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="docker", source=tree.path, cache=tmp_path / "c",
                         engine_url=docker_engine.url)
    message = one_line_error(excinfo, EXIT_UNREACHABLE)
    assert message.startswith(f"cannot pull golang:1.19 on the engine at {docker_engine.url} (")
    assert message.endswith("or use --go local")


@pytest.mark.engine
def test_auto_falls_back_to_local_go_and_says_why(tmp_path, docker_engine, go_binary, local_go_version):
    tree = make_standin(tmp_path / "tree", tag=TAG)
    lines: list[str] = []
    result = compile_argoexec(TAG, output=tmp_path / "out", go="auto", source=tree.path, cache=tmp_path / "c",
                              engine_url=docker_engine.url, progress=lines.append)
    assert result.go_how == "local" and result.go_version == local_go_version
    [said] = [line for line in lines if line.startswith("go: ")]
    assert said.startswith(f"go: local {local_go_version} from PATH (auto: docker was not usable: "
                           "cannot pull golang:1.19 on the engine at ")
    assert json.loads(result.provenance.read_text())["go_how"] == "local"


FAKE_MAKE = """#!/bin/sh
# Stands in for make in a fake golang image: records its argv and environment, then "builds".
busybox mkdir -p dist
printf '%s\\n' "$@" > dist/argv.txt
env | busybox sort > dist/env.txt
echo "fake make $1 in $(busybox pwd)"
if [ -e /fixture/fail ]; then echo "make: *** [Makefile:1: dist/argoexec] Error 1" >&2; exit 2; fi
busybox cp /fixture/argoexec.exe dist/argoexec
"""


@pytest.fixture(scope="module")
def fake_golang(docker_client, tmp_path_factory):
    """Images named golang:1.17 (its make "builds" a PE header) and golang:1.16 (its make fails) on the
    suite's engine, which cannot pull: busybox, a make script, GOLANG_VERSION like the real images.
    They exercise the container plumbing (bind mount, env, argv, logs, exit code), not a real Go.
    Not golang:1.19: the tests of an engine that cannot pull it must not find it."""
    rootfs = infra.busybox_rootfs_tar(tmp_path_factory.mktemp("golang-rootfs"))

    def image(tag: str, version: str, fail: bool) -> None:
        out = io.BytesIO()
        with tarfile.open(fileobj=io.BytesIO(rootfs.read_bytes())) as src, tarfile.open(fileobj=out, mode="w") as dst:
            for member in src.getmembers():
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
            files = {"usr/local/bin/make": (FAKE_MAKE.encode(), 0o755), "fixture/argoexec.exe": (_pe(), 0o644)}
            if fail:
                files["fixture/fail"] = (b"", 0o644)
            for name, (data, mode) in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                dst.addfile(info, io.BytesIO(data))
        docker_client.api.import_image_from_data(
            out.getvalue(), repository="golang", tag=tag,
            changes=[f"ENV GOLANG_VERSION={version}", "ENV PATH=/usr/local/bin:/bin"])

    image("1.17", "1.17.13", fail=False)
    image("1.16", "1.16.15", fail=True)
    yield
    for tag in ("1.17", "1.16"):
        docker_client.images.remove(f"golang:{tag}", force=True)


def _compile_containers(docker_client) -> list:
    return docker_client.containers.list(all=True, filters={"label": "argoexec-builder=compile"})


@pytest.mark.engine
def test_docker_mode_runs_make_in_golang_with_the_tree_mounted(tmp_path, docker_engine, docker_client, fake_golang):
    tree = make_standin(tmp_path / "tree", tag=TAG, go="1.17")
    lines: list[str] = []
    result = compile_argoexec(TAG, output=tmp_path / "out", go="docker", source=tree.path, cache=tmp_path / "c",
                              engine_url=docker_engine.url, progress=lines.append)
    assert result.go_how == "docker" and result.go_version == "go1.17.13" and not result.cached
    assert result.exe.read_bytes() == _pe()
    record = json.loads(result.provenance.read_text())
    assert record["go_obtained"].startswith("docker golang:1.17 (go1.17.13, sha256:")
    assert "fake make dist/argoexec in /src" in lines
    argv = (tree.path / "dist/argv.txt").read_text().splitlines()
    assert argv == record["make"][1:]
    env = (tree.path / "dist/env.txt").read_text().splitlines()
    for item in ("GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-trimpath -buildvcs=false",
                 "GOTOOLCHAIN=local"):
        assert item in env
    assert not _compile_containers(docker_client)
    volumes = {v.name for v in docker_client.volumes.list()}
    assert {"argoexec-builder-go-mod", "argoexec-builder-go-build"} <= volumes
    again = compile_argoexec(TAG, output=tmp_path / "out", go="docker", source=tree.path, cache=tmp_path / "c",
                             engine_url=docker_engine.url)
    assert again.cached


@pytest.mark.engine
def test_docker_mode_make_failure_is_one_line(tmp_path, docker_engine, docker_client, fake_golang):
    tree = make_standin(tmp_path / "tree", tag=TAG, go="1.16")
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="docker", source=tree.path, cache=tmp_path / "c",
                         engine_url=docker_engine.url)
    message = one_line_error(excinfo, EXIT_TARGET_FAILED)
    # The container's stdout and stderr are separate streams: their lines may come in either order.
    assert message.startswith("make dist/argoexec failed (exit 2): ")
    assert "make: *** [Makefile:1: dist/argoexec] Error 1" in message and "fake make dist/argoexec in /src" in message
    assert not _compile_containers(docker_client)


def test_auto_with_neither_go_names_both_reasons(tmp_path, monkeypatch):
    tree = _tree_and_no_go(tmp_path, monkeypatch)
    with pytest.raises(BuilderError) as excinfo:
        compile_argoexec(TAG, output=tmp_path / "out", go="auto", source=tree.path, cache=tmp_path / "c",
                         engine_url=f"unix://{tmp_path}/no-engine.sock")
    message = one_line_error(excinfo, EXIT_BAD_INPUT)
    assert message.startswith("no Go to compile argoexec with: docker: cannot reach the Docker engine")
    assert message.endswith("local: no Go on PATH: install Go >= 1.19 or use --go docker")


# -- pieces -----------------------------------------------------------------------------------------------

def _pe(machine: int = 0x8664, magic: int = 0x20B, subsystem: int = 3, characteristics: int = 0x0022) -> bytes:
    head = bytearray(512)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", head, 0x84, machine, 3, 0, 0, 0, 240, characteristics)
    struct.pack_into("<H", head, 0x98, magic)
    struct.pack_into("<H", head, 0x98 + 68, subsystem)
    return bytes(head)


@pytest.mark.parametrize(("data", "problem"), [
    (_pe(), None),
    (_pe(machine=0x14C), "machine 0x014c, not x86-64 (0x8664)"),
    (_pe(magic=0x10B), "optional header magic 0x10b, not PE32+ (0x20b)"),
    (_pe(subsystem=2), "subsystem 2, not a console program (3)"),
    (_pe(characteristics=0x2022), "not an executable image (a DLL or an object file)"),
    (b"\x7fELF" + bytes(60), "no MZ header (an ELF file: built for Linux?)"),
    (b"MZ" + bytes(62), "no PE signature"),
])
def test_windows_exe_headers(data, problem):
    assert windows_exe_problem(data) == problem


@pytest.mark.parametrize(("found", "wanted", "ok"), [
    ("go1.19.8", "1.19", True), ("go1.19", "1.19.0", True), ("go1.18.10", "1.19", False),
    ("go1.26.5", "1.26.5", True), ("go1.26.4", "1.26.5", False), ("go1.21rc2", "1.21", False),
    ("go1.21rc2", "1.20.3", True),
])
def test_go_version_compare(found, wanted, ok):
    assert go_satisfies(found, wanted) is ok
