"""The Windows-only decisions, through the real docker-py client, against a replay of Windows engines.

No Windows engine runs on these machines. Each test serves a /info payload constructed from moby's
API types for a Windows Server 2019, 2022 or 2025 host (tests/windows_engine.py) and checks what
`invoke build` and `invoke smoke` send: the isolation on /build and on container create, the
Dockerfile, the build args, the labels, and that an impossible build is refused before anything is
sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from builder import checks as checks_mod
from builder import compat
from builder.builders.docker import build_request
from builder.compat import host_facts_from_info
from builder.errors import InputError
from builder.matrix import load_matrix
from builder.plan import plan_build
from builder.source import BuildContext
from builder.targets import select
from tests import argo_standin, infra
from tests.cli import invoke
from tests.windows_engine import WINDOWS_2019, WINDOWS_2022, WINDOWS_2025, WINDOWS_ENGINES, WindowsEngineReplay

NANO_DIGEST = "sha256:" + "ab" * 32
WINDOWS_SMOKE = checks_mod.smoke_names("windows")
# One container for each image check; the volume's ACL step, init, main and a reader of the volume for each pod
# check.
CONTAINERS_PER_WINDOWS_TARGET = sum(4 if checks_mod.by_name(n).kind == checks_mod.POD else 1 for n in WINDOWS_SMOKE)
BASES = {f"mcr.microsoft.com/windows/nanoserver:{tag}": NANO_DIGEST for tag in ("1809", "ltsc2022", "ltsc2025")}
# What upstream's emissary does with an output parameter at a Windows path, as the replay plays it from its source
# (saveParameter appends the path, drive letter and colon included, to /var/run/argo/outputs/parameters/): the
# output-parameter check fails on every Windows target, and only that check.
SAVE_PARAMETER_ERROR = "failed to create directory \\var\\run\\argo\\outputs\\parameters\\C:\\Windows\\Temp"
EXPECTED = {name: "fail" if name == "output-parameter" else "pass" for name in WINDOWS_SMOKE}


def _only_output_parameter_failed(smoked, tmp_path) -> None:
    assert smoked.returncode == 1, smoked.stdout + smoked.stderr
    assert "1 of 5 checks failed" in smoked.stderr and SAVE_PARAMETER_ERROR in smoked.stdout
    records = {r["check"]: r["status"] for r in _records(tmp_path) if r["check"] != "build"}
    assert records == EXPECTED


@pytest.fixture()
def prebuilt(tmp_path):
    exe, sevenzip = tmp_path / "bin" / "argoexec.exe", tmp_path / "bin" / "7za.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"MZ stand-in argoexec.exe")
    sevenzip.write_bytes(b"MZ stand-in 7za.exe")
    return exe


def _build(engine: WindowsEngineReplay, tmp_path, *args: str):
    return invoke("build", "--engine", engine.url, "--results", str(tmp_path / "results"), *args)


def _records(tmp_path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "results").glob("*.json"))]


@pytest.mark.parametrize("host", sorted(WINDOWS_ENGINES))
def test_the_replayed_info_carries_os_version_as_moby_sends_it(host):
    """moby has sent OSVersion on Windows since 20.10.0, as hcsshim's osversion "%d.%d.%d" (three parts;
    moby pkg/parsers/operatingsystem/operatingsystem_windows.go, GetOperatingSystemVersion); every replayed
    engine is 20.10 or newer, so none may leave it out, and it names the build KernelVersion names."""
    info = WINDOWS_ENGINES[host]
    assert tuple(int(part) for part in info["ServerVersion"].split(".")[:2]) >= (20, 10)
    major_minor, build = info["KernelVersion"].split(" ")[:2]
    assert info["OSVersion"] == f"{major_minor}.{build}"
    assert str(host_facts_from_info(info).build.base) == info["OSVersion"]


def test_os_version_decides_when_kernel_version_disagrees(tmp_path, prebuilt):
    """A host whose OSVersion says 20348 and whose KernelVersion says 17763 is a 20348 host: ltsc2022 builds
    with process isolation instead of being refused as newer than the host."""
    info = {**WINDOWS_2019, "OSVersion": "10.0.20348"}
    with WindowsEngineReplay(info, BASES) as engine:
        result = _build(engine, tmp_path, "--base", "ltsc2022", "--builder", "docker", "--argoexec-exe",
                        str(prebuilt))
        assert result.returncode == 0, result.stdout + result.stderr
        assert engine.recorded.builds[0]["isolation"] == "process"
    (record,) = _records(tmp_path)
    assert record["host_os_version"] == "10.0.20348"


def test_1809_on_a_2019_engine_builds_with_process_isolation(tmp_path, prebuilt):
    with WindowsEngineReplay(WINDOWS_2019, BASES) as engine:
        result = _build(engine, tmp_path, "--base", "1809", "--argoexec-exe", str(prebuilt))
        assert result.returncode == 0, result.stdout + result.stderr
        (build,) = engine.recorded.builds
    assert build["isolation"] == "process"
    assert build["target"] == "argoexec" and build["t"] == "argoexec-builder/argoexec:v4.1.2-windows-1809"
    assert {"argoexec.exe", "7za.exe"} <= set(build["files"])
    assert "FROM mcr.microsoft.com/windows/nanoserver:1809 AS argoexec-base" in build["dockerfile_text"]
    assert "RUN argoexec version" in build["dockerfile_text"]
    labels = json.loads(build["labels"])
    assert labels["io.argoexec-builder.os.version"] == "10.0.17763"
    assert labels["org.opencontainers.image.base.digest"] == NANO_DIGEST
    assert labels["org.opencontainers.image.base.name"] == "mcr.microsoft.com/windows/nanoserver:1809"
    (record,) = _records(tmp_path)
    assert (record["status"], record["isolation"], record["host_os_version"], record["image_os_version"]) == \
        ("pass", "process", "10.0.17763.5329", "10.0.17763")


def test_1809_on_a_2022_engine_needs_hyperv(tmp_path, prebuilt):
    with WindowsEngineReplay(WINDOWS_2022, BASES) as engine:
        refused = _build(engine, tmp_path, "--base", "1809", "--argoexec-exe", str(prebuilt),
                         "--host-isolation", "process", "--builder", "docker")
        assert refused.returncode == 2
        assert "Hyper-V isolation is not offered" in refused.stderr and not engine.recorded.builds

        built = _build(engine, tmp_path, "--base", "1809", "--argoexec-exe", str(prebuilt))
        assert built.returncode == 0, built.stderr
        assert engine.recorded.builds[0]["isolation"] == "hyperv"

        smoked = invoke("smoke", "--engine", engine.url, "--base", "1809", "--results", str(tmp_path / "results"))
        _only_output_parameter_failed(smoked, tmp_path)
        assert {c["HostConfig"]["Isolation"] for c in engine.recorded.containers} == {"hyperv"}
        assert len(engine.recorded.containers) == CONTAINERS_PER_WINDOWS_TARGET


def test_1909_on_a_2019_engine_is_refused_before_anything_is_sent(tmp_path, prebuilt):
    with WindowsEngineReplay(WINDOWS_2019, BASES) as engine:
        result = _build(engine, tmp_path, "--base", "1909", "--builder", "docker", "--argoexec-exe", str(prebuilt))
        assert not engine.recorded.builds and not engine.recorded.pulls
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: v4.1.2-windows-1909: cannot build on this 10.0.17763 host: a Windows engine on a "
                           "10.0.17763 host refuses to pull a newer 10.0.18363-based image")
    assert "build it on a 10.0.18363 host" in line
    assert not (tmp_path / "results").exists()


def test_ltsc2022_on_a_2025_engine_builds_and_smokes_with_process_isolation(tmp_path, prebuilt):
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2022", "--argoexec-exe", str(prebuilt)).returncode == 0
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--runner", "windows-2025",
                        "--results", str(tmp_path / "results"))
        _only_output_parameter_failed(smoked, tmp_path)
        assert engine.recorded.builds[0]["isolation"] == "process"
        assert {c["HostConfig"]["Isolation"] for c in engine.recorded.containers} == {"process"}
    checks = {r["check"]: r for r in _records(tmp_path) if r["check"] != "build"}
    # every check's containers and every pod volume removed
    assert len(engine.recorded.removed) == len(engine.recorded.containers) == CONTAINERS_PER_WINDOWS_TARGET
    assert sorted(engine.recorded.volumes_removed) == sorted(engine.recorded.volumes) and engine.recorded.volumes
    assert checks["argoexec-version"]["runner"] == "windows-2025"
    assert checks["hello-windows"]["host_os_version"] == "10.0.26100.2894"


def test_a_binary_that_reports_another_version_fails_the_check(tmp_path, prebuilt):
    wrong = (
        "argoexec: v3.7.18\r\n  GitTag: v3.7.18\r\n  Platform: windows/amd64\r\n")
    with WindowsEngineReplay(WINDOWS_2025, BASES, version_output=wrong) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2025", "--argoexec-exe", str(prebuilt)).returncode == 0
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2025", "--results", str(tmp_path / "results"))
        assert len(engine.recorded.removed) == CONTAINERS_PER_WINDOWS_TARGET
    assert smoked.returncode == 1
    checks = {r["check"]: r for r in _records(tmp_path)}
    assert checks["argoexec-version"]["status"] == "fail" and checks["hello-windows"]["status"] == "pass"
    assert checks["argoexec-in-base"]["status"] == "fail"  # the same wrong binary, run from the volume
    assert "reports version v3.7.18, built from v4.1.2" in smoked.stdout


def test_smoke_on_a_host_that_cannot_run_the_image_is_not_runnable(tmp_path):
    with WindowsEngineReplay(WINDOWS_2019, BASES) as engine:
        result = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--results", str(tmp_path / "results"))
        assert not engine.recorded.containers
    assert result.returncode == 0
    records = _records(tmp_path)
    assert {r["status"] for r in records} == {"not-runnable"} and len(records) == len(WINDOWS_SMOKE)
    assert all("newer than the host" in r["log_excerpt"] for r in records)


@pytest.fixture()
def argo_repo(tmp_path):
    """A local git repository standing in for upstream: a tag v4.1.2 with a go.mod."""
    git = shutil.which("git")
    if git is None:
        pytest.fail("git not found")
    repo = tmp_path / "argo-workflows"
    repo.mkdir()
    (repo / "go.mod").write_text("module github.com/argoproj/argo-workflows/v4\n\ngo 1.26.7\n")
    (repo / "Makefile").write_text("dist/argoexec:\n\techo build\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "v4.1.2"], ["tag", "v4.1.2"]):
        subprocess.run([git, *args], cwd=repo, check=True, env=env)
    commit = subprocess.run([git, "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    return repo, commit


def test_windows_source_build_fills_the_git_args_and_the_go_mod_version(tmp_path, argo_repo, monkeypatch):
    repo, commit = argo_repo
    cache = tmp_path / "cache"
    env = {**os.environ, "ARGOEXEC_BUILDER_CACHE": str(cache)}
    bases = {**BASES}
    with WindowsEngineReplay(WINDOWS_2025, bases) as engine:
        for run in range(2):
            if run == 1:
                shutil.rmtree(repo)  # the second build can only succeed from the cached tree
            result = invoke("build", "--engine", engine.url, "--base", "ltsc2022,ltsc2025", "--argo-git",
                            f"file://{repo}", "--binary", "windows-source", "--results", str(tmp_path / "results"),
                            env=env)
            assert result.returncode == 0, result.stdout + result.stderr
        builds = engine.recorded.builds
    assert len(builds) == 4
    for build in builds:
        assert json.loads(build["buildargs"]) == {"GIT_COMMIT": commit, "GIT_TAG": "v4.1.2",
                                                  "GIT_TREE_STATE": "clean"}
        assert "go.mod" in build["files"] and "Makefile" in build["files"]
        assert "choco install golang --version=1.26.7" in build["dockerfile_text"]
        assert json.loads(build["labels"])["org.opencontainers.image.revision"] == commit
    (cached,) = (cache / "argo-src").iterdir()
    assert cached.name.startswith("v4.1.2-")  # keyed by tag and source URL


def test_an_unreachable_source_repository_exits_4(tmp_path):
    env = {**os.environ, "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")}
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        result = invoke("build", "--engine", engine.url, "--base", "ltsc2025", "--argo-git",
                        f"file://{tmp_path}/nowhere", "--results", str(tmp_path / "results"), env=env)
    assert result.returncode == 4
    assert result.stderr.startswith("error: cannot fetch Argo v4.1.2 from file://")


@pytest.mark.parametrize("info,base,offered,isolation", [
    (WINDOWS_2019, "1809", compat.ISOLATIONS, "process"),
    (WINDOWS_2022, "1809", compat.ISOLATIONS, "hyperv"),
    (WINDOWS_2022, "ltsc2022", compat.ISOLATIONS, "process"),
    (WINDOWS_2025, "ltsc2022", ("process",), "process"),
    (WINDOWS_2025, "ltsc2025", compat.ISOLATIONS, "process"),
    (WINDOWS_2025, "2004", ("hyperv",), "hyperv"),
])
def test_build_request_isolation_from_the_engines_info(tmp_path, info, base, offered, isolation):
    matrix = load_matrix()
    (planned,) = plan_build(matrix, select(matrix, base), host_facts_from_info(info), "docker", offered)
    request = build_request(planned, BuildContext(tmp_path, "prebuilt"), tmp_path / "Dockerfile", "x:y", {}, None)
    assert request["isolation"] == isolation and request["target"] == "argoexec"


@pytest.mark.parametrize("info,base", [(WINDOWS_2019, "ltsc2022"), (WINDOWS_2022, "ltsc2025"),
                                       (WINDOWS_2019, "20H2")])
def test_newer_bases_are_refused_on_replayed_hosts(info, base):
    matrix = load_matrix()
    with pytest.raises(InputError, match="refuses to pull a newer"):
        plan_build(matrix, select(matrix, base), host_facts_from_info(info), "docker")


@pytest.mark.integration  # Debian's Go and make compile a stand-in Argo tree
def test_the_default_build_copies_the_compiled_binary_and_runs_nothing_else(tmp_path):
    """--binary compiled (the default) on a Windows engine: argoexec.exe cross-compiled here from a stand-in
    Argo tree, sent in the build context; the Dockerfile is the copy variant; the labels name its sha256."""
    for tool in ("go", "make", "git"):
        infra.require_binary(tool)
    standin = argo_standin.make_standin(tmp_path / "argo", tag="v4.1.2")
    env = {**os.environ, "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")}
    with WindowsEngineReplay(WINDOWS_2019, BASES) as engine:
        result = invoke("build", "--engine", engine.url, "--results", str(tmp_path / "results"), "--base", "1809",
                        "--go", "local", "--argo-git", f"file://{standin.path}", "--dist", str(tmp_path / "out"),
                        env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        (build,) = engine.recorded.builds
    exe = tmp_path / "out" / "dist" / "bin" / "v4.1.2" / "windows-amd64" / "argoexec.exe"
    sha = hashlib.sha256(exe.read_bytes()).hexdigest()
    assert build["file_sha256"]["argoexec.exe"] == sha and "7za.exe" not in build["files"]
    assert json.loads(build.get("buildargs", "{}")) == {}  # no GIT_* args: nothing is compiled in the image
    instructions = [line.split(" ", 1)[0] for line in build["dockerfile_text"].splitlines()
                    if line and not line.startswith("#")]
    assert instructions.count("RUN") == 1 and "RUN argoexec version" in build["dockerfile_text"]
    assert "COPY argoexec.exe C:/app/argoexec.exe" in build["dockerfile_text"]
    labels = json.loads(build["labels"])
    assert labels["io.argoexec-builder.argoexec.sha256"] == f"sha256:{sha}"
    assert labels["io.argoexec-builder.argoexec.origin"] == "compiled"
    (record,) = _records(tmp_path)
    assert record["argoexec"].startswith(f"compiled argoexec sha256:{sha}")


@pytest.mark.integration  # Debian's Go and make compile a stand-in Argo tree
def test_build_takes_binaries_compiled_elsewhere_and_checks_them(tmp_path):
    """The nightly's shape: `invoke compile` on Linux, then `invoke build --compiled DIR` on a Windows runner."""
    for tool in ("go", "make", "git"):
        infra.require_binary(tool)
    standin = argo_standin.make_standin(tmp_path / "argo", tag="v4.1.2")
    env = {**os.environ, "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "compiled"
    made = invoke("compile", "--argo", "v4.1.2", "--go", "local", "--source", str(standin.path), "--out", str(out),
                  env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    exe = out / "dist" / "bin" / "v4.1.2" / "windows-amd64" / "argoexec.exe"
    sha = hashlib.sha256(exe.read_bytes()).hexdigest()
    assert f"compiled {exe} sha256:{sha}" in made.stdout
    with WindowsEngineReplay(WINDOWS_2019, BASES) as engine:
        result = _build(engine, tmp_path, "--base", "1809", "--compiled", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        (build,) = engine.recorded.builds
        assert build["file_sha256"]["argoexec.exe"] == sha
        exe.write_bytes(exe.read_bytes() + b"tampered")
        refused = _build(engine, tmp_path, "--base", "1809", "--compiled", str(out))
        assert len(engine.recorded.builds) == 1  # nothing was sent
    assert refused.returncode == 2 and "its provenance says" in refused.stderr


def test_hello_windows_runs_the_way_a_pod_runs_it(tmp_path, prebuilt):
    """The container configs the pod-shaped checks send (workflowpod.go at v4.1.2): init from the image under
    test, the main container from the stock nanoserver of the target's build, one fresh volume mounted where
    a Windows kubelet mounts var-run-argo, argoexec started from it by its pod path, the controller's env."""
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2022", "--argoexec-exe", str(prebuilt)).returncode == 0
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--results", str(tmp_path / "results"))
        _only_output_parameter_failed(smoked, tmp_path)
        containers = engine.recorded.containers
        volumes = list(engine.recorded.volumes)
    tested = "argoexec-builder/argoexec:v4.1.2-windows-ltsc2022"
    inits = [c for c in containers if c["Image"] == tested and (c.get("Cmd") or [])[:1] == ["init"]]
    mains = [c for c in containers if c.get("Entrypoint") == ["/var/run/argo/argoexec"]]
    acls = [c for c in containers if c.get("Entrypoint") == ["icacls"]]
    # hello-windows, emissary-exit-code, argoexec-in-base, output-parameter
    assert len(inits) == len(mains) == len(acls) == len(volumes) == 4
    for acl, init, main, volume in zip(acls, inits, mains, volumes, strict=True):
        mount = [{"Target": "C:\\var\\run\\argo", "Source": volume, "Type": "volume", "ReadOnly": False}]
        assert init["HostConfig"]["Mounts"] == mount and main["HostConfig"]["Mounts"] == mount
        # Before init, a ContainerAdministrator step of the stock base grants BUILTIN\Users modify rights on the
        # volume, inherited (the data root's ACL grants only Administrators and SYSTEM: moby daemon_windows.go).
        assert acl["HostConfig"]["Mounts"] == mount and acl["User"] == "ContainerAdministrator"
        assert acl["Image"] == "mcr.microsoft.com/windows/nanoserver:ltsc2022"
        assert acl["Cmd"] == ["C:\\var\\run\\argo", "/grant", "*S-1-5-32-545:(OI)(CI)M"]
        assert containers.index(acl) < containers.index(init) < containers.index(main)
        assert not main.get("User")  # main runs as the stock base's own user, ContainerUser
        assert init.get("Entrypoint") is None  # the image's own: argoexec
        assert init["Cmd"] == ["init", "--loglevel", "info", "--log-format", "text", "--gloglevel", "0", "--server",
                               "http://kubernetes.default.svc"]
        env = dict(e.split("=", 1) for e in init["Env"])
        main_env = dict(e.split("=", 1) for e in main["Env"])
        # Exactly upstream's legacy layout (workflowpod.go at v4.1.2): createEnvVars (lines 1212-1250) then, for init
        # containers, ARGO_CONTAINER_NAME and ARGO_TEMPLATE and the standard list (lines 644-681); main gets
        # ARGO_CONTAINER_NAME and the standard list only (lines 682-699; legacyLayout.mainNeedsTemplateEnv is false).
        pod, node, workflow = env["ARGO_POD_NAME"], env["ARGO_NODE_ID"], env["ARGO_WORKFLOW_NAME"]
        standard = {"ARGO_NODE_ID": node, "ARGO_INCLUDE_SCRIPT_OUTPUT": "false",
                    "ARGO_DEADLINE": "0001-01-01T00:00:00Z", "ARGO_WORKFLOW_NAME": workflow,
                    "ARGO_PROGRESS_FILE": "/var/run/argo/progress", "ARGO_PROGRESS_PATCH_TICK_DURATION": "1m0s",
                    "ARGO_PROGRESS_FILE_TICK_DURATION": "3s"}
        assert env == {"ARGO_POD_NAME": pod, "ARGO_POD_UID": env["ARGO_POD_UID"], "ARGO_WORKFLOW_NAME": workflow,
                       "ARGO_WORKFLOW_UID": env["ARGO_WORKFLOW_UID"], "ARGO_CONTAINER_NAME": "init",
                       "ARGO_TEMPLATE": env["ARGO_TEMPLATE"], **standard}
        assert main_env == {"ARGO_CONTAINER_NAME": "main", **standard}
        assert node == pod and len({env["ARGO_POD_UID"], env["ARGO_WORKFLOW_UID"]}) == 2
        # The step's own image: the stock nanoserver of the target's build, not the image under test.
        assert main["Image"] == "mcr.microsoft.com/windows/nanoserver:ltsc2022"
        assert {init["HostConfig"]["Isolation"], main["HostConfig"]["Isolation"]} == {"process"}
    hello = mains[0]
    assert hello["Cmd"] == ["emissary", "--loglevel", "info", "--log-format", "text", "--gloglevel", "0", "--",
                            "cmd", "/c", "echo", "Hello from Windows Container!"]
    assert json.loads(dict(e.split("=", 1) for e in inits[0]["Env"])["ARGO_TEMPLATE"])["container"]["command"] == [
        "cmd"]
    assert mains[1]["Cmd"][-4:] == ["cmd", "/c", "exit", "3"]
    assert mains[2]["Cmd"] == ["version"]  # argoexec itself, from the volume, in plain nanoserver
    # output-parameter: main writes a Windows path the template names as an output parameter.
    assert json.loads(dict(e.split("=", 1) for e in inits[3]["Env"])["ARGO_TEMPLATE"])["outputs"] == {
        "parameters": [{"name": "result", "valueFrom": {"path": "C:\\Windows\\Temp\\argo-output-parameter.txt"}}]}
    assert mains[3]["Cmd"][-3:] == ["cmd", "/c", "echo hello-parameter>C:\\Windows\\Temp\\argo-output-parameter.txt"]
    records = {r["check"]: r for r in _records(tmp_path)}
    assert '[main] exit 0\n"Hello from Windows Container!"' in records["hello-windows"]["log_excerpt"]
    assert records["emissary-exit-code"]["status"] == "pass"


def test_without_the_acl_step_main_cannot_start_argoexec_and_the_reader_cannot_list(tmp_path, prebuilt, monkeypatch):
    """What a Windows volume does without the ACL step: ContainerUser can neither start argoexec from it nor list
    it. The record says so (an error of the volume), and never blames init."""
    from builder import smoke

    monkeypatch.setattr(smoke, "volume_acl_step", lambda target: None)
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2022", "--argoexec-exe", str(prebuilt)).returncode == 0
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--results", str(tmp_path / "results"))
    assert smoked.returncode == 1
    records = {r["check"]: r for r in _records(tmp_path) if r["check"] != "build"}
    pod_checks = [n for n in WINDOWS_SMOKE if checks_mod.by_name(n).kind == checks_mod.POD]
    assert {records[n]["status"] for n in pod_checks} == {"error"}
    assert "read: the volume could not be listed (Access is denied.)" in smoked.stdout
    assert "init:" not in smoked.stdout and "left no argoexec" not in smoked.stdout


def test_an_acl_step_that_fails_is_an_error_naming_it(tmp_path, prebuilt, monkeypatch):
    from builder import smoke

    monkeypatch.setattr(smoke, "ACL_USER", "ContainerUser")  # icacls as a non-administrator: access denied
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2022", "--argoexec-exe", str(prebuilt)).returncode == 0
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--results", str(tmp_path / "results"))
        assert not [c for c in engine.recorded.containers if (c.get("Cmd") or [])[:1] == ["init"]]
    assert smoked.returncode == 1
    assert "acl: could not grant BUILTIN\\Users access to the volume (exit code 5: C:\\var\\run\\argo: Access is " \
           "denied." in smoked.stdout


def test_a_volume_that_cannot_be_read_is_an_error_not_a_blame_on_init(tmp_path, prebuilt):
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2022", "--argoexec-exe", str(prebuilt)).returncode == 0
        engine.server.reader_fails = True
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--results", str(tmp_path / "results"))
        assert sorted(engine.recorded.volumes_removed) == sorted(engine.recorded.volumes)
    assert smoked.returncode == 1
    records = {r["check"]: r for r in _records(tmp_path) if r["check"] != "build"}
    pod_checks = [n for n in WINDOWS_SMOKE if checks_mod.by_name(n).kind == checks_mod.POD]
    assert {records[n]["status"] for n in pod_checks} == {"error"}
    assert "read: the volume could not be read (exit code 1)" in smoked.stdout and "init:" not in smoked.stdout


def test_a_smoke_failure_with_0xc0370106_is_labelled_revision_skew(tmp_path, prebuilt):
    """hcs::System::Start's 0xC0370106, as actions/runner-images#11582 quotes it (constructed here): the image's
    revision is newer than the host's."""
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2025", "--argoexec-exe", str(prebuilt)).returncode == 0
        engine.server.start_failure = ("hcs::System::Start: failure in a Windows system call: The virtual machine or "
                                       "container exited unexpectedly. (0xc0370106)")
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2025", "--results", str(tmp_path / "results"))
    assert smoked.returncode == 1
    records = [r for r in _records(tmp_path) if r["check"] != "build"]
    assert records and all(r["status"] in ("fail", "error") for r in records)
    summary = [line.strip() for line in smoked.stdout.splitlines()
               if line.strip().startswith(("fail ", "error ")) and "v4.1.2-windows-ltsc2025" in line]
    assert len(summary) == len(records), smoked.stdout
    assert all("revision skew (0xC0370106: the image is newer than the host's patch level)" in line
               for line in summary), summary


def test_hello_windows_fails_when_main_exits_0_without_the_greeting(tmp_path, prebuilt):
    """The failing side of hello-windows. The step exits 0 and writes its exit code, but
    its output never comes: the check fails (a judge that always passed would pass everything else here)."""
    with WindowsEngineReplay(WINDOWS_2025, BASES) as engine:
        assert _build(engine, tmp_path, "--base", "ltsc2022", "--argoexec-exe", str(prebuilt)).returncode == 0
        engine.server.swallow_output = True
        smoked = invoke("smoke", "--engine", engine.url, "--base", "ltsc2022", "--results", str(tmp_path / "results"))
    assert smoked.returncode == 1, smoked.stdout + smoked.stderr
    records = {r["check"]: r for r in _records(tmp_path)}
    assert records["hello-windows"]["status"] == "fail"
    assert "output lacks 'Hello from Windows Container!'" in smoked.stdout + records["hello-windows"]["log_excerpt"]
    assert records["emissary-exit-code"]["status"] == "pass"  # exit codes still came through: only the greeting
