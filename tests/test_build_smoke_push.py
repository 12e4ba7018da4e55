"""invoke build / smoke / push on the real Linux engine and registry of the suite.

A Linux target (base: an imported busybox rootfs; argoexec: a stand-in compiled here that prints
upstream's `argoexec version` format) goes through the same code as the Windows targets.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from builder import checks as checks_mod
from tests import infra
from tests.cli import ROOT, invoke
from tests.pod_standin import PodStandins

MATRIX = (ROOT / "matrix.yaml").read_text()
LINUX = ("\nlinux:\n"
         "  - name: amd64\n    platform: linux/amd64\n    base_image: local/base:1\n"
         "  - name: broken\n    platform: linux/amd64\n    base_image: local/missing:1\n")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Stand-in argoexec binaries: compiled(version, mode='ok') -> Path, the Go stand-in of
    tests/pod_standin.py (version, init, emissary), which the pod-shaped checks need. With a faked
    ``platform`` or a ``sleep`` in its version command: the small C stand-in, which knows only `version`."""
    standins = PodStandins(tmp_path_factory.mktemp("pod-standin"))
    folder = tmp_path_factory.mktemp("standin")
    made: dict[tuple, Path] = {}

    def make(version: str, platform: str | None = None, sleep: int = 0, mode: str = "ok") -> Path:
        if platform is None and not sleep:
            return standins(mode=mode, version=version)
        gcc = infra.require_binary("gcc")
        key = (version, platform, sleep)
        if key not in made:
            out = folder / f"argoexec-{len(made)}"
            defines = [f'-DVERSION="{version}"', f'-DPLATFORM="{platform or "linux/amd64"}"', f"-DSLEEP_S={sleep}"]
            subprocess.run([gcc, "-static", "-O2", *defines, "-o", str(out),
                            str(ROOT / "tests/data/argoexec_standin.c")], check=True)
            made[key] = out
        return made[key]

    return make


@pytest.fixture()
def matrix_file(tmp_path, base_image):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX + LINUX)
    return path


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _run(task: str, matrix_file: Path, engine, tmp_path: Path, *args: str, repo: str = "suite/argoexec"):
    """A real process: builds and checks on the engine can hang, and the 300 s timeout must stop them."""
    return invoke(task, "--matrix", str(matrix_file), "--engine", engine.url, "--repo", repo,
                  *(["--network", "none", "--results", str(tmp_path / "results")] if task != "push" else []),
                  *args, timeout=300, process=True)


def test_build_smoke_push_and_pull_back(docker_engine, docker_client, registry, matrix_file, compiled, tmp_path):
    binary = compiled("v4.1.2")
    built = _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argoexec-exe", str(binary))
    assert built.returncode == 0, built.stdout + built.stderr
    assert "built suite/argoexec:v4.1.2-linux-amd64 sha256:" in built.stdout
    image = docker_client.images.get("suite/argoexec:v4.1.2-linux-amd64")
    labels = image.labels
    assert labels["org.opencontainers.image.version"] == "v4.1.2"
    assert labels["org.opencontainers.image.base.name"] == "local/base:1"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["io.argoexec-builder.target"] == "v4.1.2-linux-amd64"
    assert image.attrs["Config"]["Entrypoint"] == ["argoexec"]

    smoked = _run("smoke", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--runner", "suite")
    assert smoked.returncode == 0, smoked.stdout + smoked.stderr
    records = _records(tmp_path / "results")
    by_check = {r["check"]: r for r in records}
    assert set(by_check) == {"build", *checks_mod.smoke_names("linux")}
    assert all(r["status"] == "pass" for r in records), records
    version = by_check["argoexec-version"]
    assert version["target"] == "v4.1.2-linux-amd64" and version["argo"] == "v4.1.2" and version["os"] == "linux"
    assert version["image"] == "suite/argoexec:v4.1.2-linux-amd64" and version["image_digest"] == image.id
    # The engine's version as its /version endpoint gives it (whatever release the machine's dockerd is).
    assert version["runner"] == "suite" and version["engine_version"] == docker_client.version()["Version"]
    assert "Platform: linux/amd64" in version["log_excerpt"]
    assert "Hello from Linux Container!" in by_check["hello-linux"]["log_excerpt"]
    assert version["started_at"].endswith("Z") and version["duration_s"] >= 0
    expected_keys = {"target", "argo", "os", "base", "image_os_version", "image", "image_digest", "host_os_version",
                     "runner", "engine_version", "isolation", "check", "status", "started_at", "duration_s",
                     "log_excerpt", "tool_version"}
    assert all(set(r) == expected_keys for r in records)
    assert "[init] exit 0" in by_check["hello-linux"]["log_excerpt"]
    assert "[main] exit 3" in by_check["emissary-exit-code"]["log_excerpt"]
    # emissary saved the output parameter where saveParameter puts it, and the reader found its value there.
    assert "--- parameter ---\nhello-parameter" in by_check["output-parameter"]["log_excerpt"]
    assert not [c for c in docker_client.containers.list(all=True)], "smoke containers were left behind"
    assert not [v for v in docker_client.volumes.list() if v.name.startswith("argoexec-smoke-")], "pod volumes left"

    repo = f"{registry.host}/argoexec"
    pushed = _run("push", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--to", repo)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    reference = pushed.stdout.strip().splitlines()[-1]
    assert reference.startswith(f"{repo}:v4.1.2-linux-amd64@sha256:")
    digest = reference.rsplit("@", 1)[1]
    manifest = requests.get(f"{registry.url}/v2/argoexec/manifests/{digest}", timeout=10,
                            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert manifest.status_code == 200

    docker_client.images.remove(f"{repo}:v4.1.2-linux-amd64")
    pulled = docker_client.images.pull(f"{repo}@{digest}")
    output = docker_client.containers.run(pulled.id, ["version"], network_mode="none", remove=True).decode()
    assert output.startswith("argoexec: v4.1.2\n")

    # Another runner smoke-tests the pushed image: not on its engine, so it is pulled by its tag.
    docker_client.images.remove(pulled.id, force=True)
    elsewhere = _run("smoke", matrix_file, docker_engine, tmp_path / "elsewhere", "--base", "amd64", repo=repo)
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert f"pulling {repo}:v4.1.2-linux-amd64" in elsewhere.stdout


def test_a_binary_for_another_platform_fails_the_version_check(docker_engine, matrix_file, compiled, tmp_path):
    arm = compiled("v4.1.2", platform="linux/arm64")
    assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argoexec-exe", str(arm),
                repo="suite/arm").returncode == 0
    result = _run("smoke", matrix_file, docker_engine, tmp_path, "--base", "amd64", repo="suite/arm")
    assert result.returncode == 1 and "does not report Platform: linux/amd64" in result.stdout


def test_a_broken_build_is_recorded_and_the_next_target_still_builds(docker_engine, matrix_file, compiled,
                                                                      tmp_path):
    result = _run("build", matrix_file, docker_engine, tmp_path, "--base", "broken", "--base", "amd64",
                  "--argoexec-exe", str(compiled("v4.1.2")))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: 1 of 2 builds failed; see the records in results/"]
    records = {r["target"]: r for r in _records(tmp_path / "results")}
    assert records["v4.1.2-linux-broken"]["status"] == "fail"
    assert "cannot pull base local/missing:1" in records["v4.1.2-linux-broken"]["log_excerpt"]
    assert records["v4.1.2-linux-amd64"]["status"] == "pass"
    assert "Traceback" not in result.stdout + result.stderr


def test_a_failing_smoke_check_is_recorded(docker_engine, matrix_file, compiled, tmp_path):
    wrong = compiled("v0.0.1")  # reports a version other than the tag that was built
    assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argo", "v4.0.10",
                "--argoexec-exe", str(wrong)).returncode == 0
    result = _run("smoke", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argo", "v4.0.10")
    assert result.returncode == 1
    checks = {r["check"]: r for r in _records(tmp_path / "results") if r["check"] != "build"}
    assert checks["argoexec-version"]["status"] == "fail"
    assert checks["hello-linux"]["status"] == "pass" and checks["emissary-exit-code"]["status"] == "pass"
    assert checks["argoexec-in-base"]["status"] == "fail"  # the same binary, started from the volume
    assert "reports version v0.0.1, built from v4.0.10" in result.stdout


def test_a_check_that_hangs_times_out_and_its_container_is_removed(docker_engine, docker_client, matrix_file,
                                                                    compiled, tmp_path):
    slow = compiled("v3.7.18", sleep=12)
    assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argo", "v3.7.18",
                "--argoexec-exe", str(slow)).returncode == 0
    result = _run("smoke", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argo", "v3.7.18",
                  "--timeout", "1")
    assert result.returncode == 1
    version = next(r for r in _records(tmp_path / "results") if r["check"] == "argoexec-version")
    assert version["status"] == "error" and version["duration_s"] < 10  # stopped long before the 12 s sleep ends
    assert not docker_client.containers.list(all=True)


def test_smoke_without_a_build_is_an_error_record(docker_engine, matrix_file, tmp_path):
    result = _run("smoke", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argo", "v4.0.10",
                  repo="suite/never-built")
    assert result.returncode == 1
    assert {r["status"] for r in _records(tmp_path / "results")} == {"error"}


def test_a_windows_target_on_a_linux_engine_is_refused(docker_engine, tmp_path):
    result = invoke("build", "--base", "1909", "--builder", "docker", "--engine", docker_engine.url,
                    "--results", str(tmp_path / "results"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "v4.1.2-windows-1909: the engine at unix://" in lines[0]
    assert "is a linux engine and cannot build Windows images" in lines[0]
    assert not (tmp_path / "results").exists()


def test_an_unreachable_engine_exits_4(tmp_path):
    for task in ("build", "smoke", "push"):
        extra = {"push": ("--to", "127.0.0.1:1/x"), "build": ("--builder", "docker")}.get(task, ())
        result = invoke(task, "--base", "1809", "--engine", f"unix://{tmp_path}/missing.sock", *extra)
        assert result.returncode == 4, (task, result.stderr)
        # --engine was given: the next step is to check it, not to pass it.
        assert result.stderr.strip().splitlines() == [
            f"error: cannot reach the Docker engine at unix://{tmp_path}/missing.sock (No such file or directory); "
            "check that the engine runs there and that --engine names it (scheme, host, port)"]
    # From DOCKER_HOST: the variable is what to correct.
    result = invoke("smoke", "--base", "1809", env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/gone.sock"})
    assert result.returncode == 4 and result.stderr.strip().endswith(
        "check that the engine runs there, or correct DOCKER_HOST (or pass --engine URL)")


def test_push_to_a_registry_that_is_down_exits_4(docker_engine, matrix_file, compiled, tmp_path):
    assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64",
                "--argoexec-exe", str(compiled("v4.1.2"))).returncode == 0
    port = infra.free_port()
    result = _run("push", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--to", f"127.0.0.1:{port}/x")
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot reach registry 127.0.0.1:{port}")


def test_push_of_an_image_not_built_exits_2(docker_engine, matrix_file, registry, tmp_path):
    result = _run("push", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argo", "v3.7.18",
                  "--to", f"{registry.host}/x", repo="suite/never-built")
    assert result.returncode == 2
    assert "is not on the engine; run `invoke build` for it first" in result.stderr


def test_linux_target_needs_a_prebuilt_binary(docker_engine, matrix_file, tmp_path):
    result = _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64")
    assert result.returncode == 2 and "pass --argoexec-exe PATH" in result.stderr


def test_secrets_never_reach_output_or_records(docker_engine, matrix_file, compiled, tmp_path):
    secret = "hunter2-registry-password"
    config = tmp_path / "docker-config"
    config.mkdir()
    auth = base64.b64encode(f"robot:{secret}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {"registry.invalid": {"auth": auth}}}))
    token = "tok-0123456789"
    leaky = compiled(f"v4.1.2-{secret}-{token}")  # a binary that prints both secrets in its version line
    env = {**os.environ, "DOCKER_CONFIG": str(config), "DEPLOY_TOKEN": token}
    common = ("--matrix", str(matrix_file), "--engine", docker_engine.url, "--network", "none",
              "--results", str(tmp_path / "results"), "--base", "amd64", "--repo", "suite/leaky")
    built = invoke("build", *common, "--argoexec-exe", str(leaky), env=env)
    smoked = invoke("smoke", *common, env=env)
    assert smoked.returncode == 1  # the version line does not name the tag
    everything = built.stdout + built.stderr + smoked.stdout + smoked.stderr
    everything += "".join(p.read_text() for p in (tmp_path / "results").glob("*.json"))
    assert "argoexec: v4.1.2-***-***" in everything
    assert secret not in everything and auth not in everything and token not in everything


@pytest.mark.registry  # starts a registry of its own, with htpasswd
def test_push_uses_the_docker_config_credentials(docker_engine, matrix_file, compiled, tmp_path):
    user, password = "robot", "engine-push-password"
    secure = infra.start_registry(htpasswd=(user, password))
    try:
        assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64",
                    "--argoexec-exe", str(compiled("v4.1.2"))).returncode == 0
        to = f"{secure.host}/secure/argoexec"
        refused = _run("push", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--to", to)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.strip().splitlines()[-1].startswith(f"error: registry {secure.host} refused the push")

        config = tmp_path / "docker-config"
        config.mkdir()
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        (config / "config.json").write_text(json.dumps({"auths": {secure.host: {"auth": auth}}}))
        pushed = invoke("push", "--matrix", str(matrix_file), "--engine", docker_engine.url, "--repo",
                        "suite/argoexec", "--base", "amd64", "--to", to,
                        env={**os.environ, "DOCKER_CONFIG": str(config)})
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert pushed.stdout.strip().splitlines()[-1].startswith(f"{to}:v4.1.2-linux-amd64@sha256:")
        assert password not in pushed.stdout + pushed.stderr + refused.stdout + refused.stderr
    finally:
        secure.stop()


@pytest.mark.parametrize("mode,check,step", [
    ("no-copy", "hello-linux", "init: exit 0 but left no argoexec in /var/run/argo"),
    ("lose-exitcode", "hello-linux", "main: emissary wrote no ctr/main/exitcode, expected 0"),
    ("wrong-exitcode", "emissary-exit-code", "main: emissary wrote 0 ctr/main/exitcode, expected 3"),
])
def test_a_broken_executor_fails_the_pod_check_naming_the_step(docker_engine, docker_client, matrix_file, compiled,
                                                                tmp_path, mode, check, step):
    """The pod shape catches what `argoexec version` cannot: an init that does not copy the binary, an emissary
    that loses the step's exit code."""
    broken = compiled("v4.1.2", mode=mode)
    repo = f"suite/{mode}"
    assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argoexec-exe", str(broken),
                repo=repo).returncode == 0
    result = _run("smoke", matrix_file, docker_engine, tmp_path, "--base", "amd64", repo=repo)
    assert result.returncode == 1
    records = {r["check"]: r for r in _records(tmp_path / "results") if r["check"] != "build"}
    assert records["argoexec-version"]["status"] == "pass"  # the single-container check sees nothing wrong
    assert records[check]["status"] == "fail" and step in result.stdout
    assert not docker_client.containers.list(all=True)
    assert not [v for v in docker_client.volumes.list() if v.name.startswith("argoexec-smoke-")]


def test_init_given_an_https_server_fails_every_pod_check_naming_init(docker_engine, docker_client, matrix_file,
                                                                      compiled, tmp_path, monkeypatch):
    """The flags smoke gave init before: `--server https://...` and no identity. client-go prompts for a username on
    the container's empty stdin and init exits 2 (the stand-in follows client_config.go
    getUserIdentificationPartialConfig), so every pod check fails at init with a working executor."""
    from builder import smoke

    repo = "suite/https-init"
    assert _run("build", matrix_file, docker_engine, tmp_path, "--base", "amd64", "--argoexec-exe",
                str(compiled("v4.1.2")), repo=repo).returncode == 0
    monkeypatch.setattr(smoke, "INIT_SERVER", "https://kubernetes.default.svc")
    result = invoke("smoke", "--matrix", str(matrix_file), "--engine", docker_engine.url, "--repo", repo,
                    "--network", "none", "--results", str(tmp_path / "results"), "--base", "amd64")
    assert result.returncode == 1
    records = {r["check"]: r for r in _records(tmp_path / "results") if r["check"] != "build"}
    pod_checks = [c.name for c in checks_mod.CHECKS if c.kind == checks_mod.POD and "linux" in c.oses]
    assert pod_checks and all(records[name]["status"] == "fail" for name in pod_checks), records
    assert "init: exit code 2" in result.stdout and "Please enter Username" in result.stdout
    assert records["argoexec-version"]["status"] == "pass"
