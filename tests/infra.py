"""Real engines and registries for the tests, started by the suite itself and stopped by PID.

- A Docker engine: Debian's ``dockerd`` with a private unix socket, data root and exec root in a
  temporary directory, vfs storage, no bridge and no iptables (nothing outlives it on the host).
- A registry: Debian's ``docker-registry`` (CNCF distribution) on 127.0.0.1 and a free port.

Under ``CI=true`` a missing binary fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

DEBIAN_PACKAGE = {"dockerd": "docker.io", "docker-registry": "docker-registry", "skopeo": "skopeo",
                  "busybox": "busybox-static", "htpasswd": "apache2-utils", "go": "golang-go",
                  "gcc": "gcc and libc6-dev", "make": "make", "git": "git", "wine": "wine"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    found = shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name)
                                        if p.exists()), None)
    if found:
        return found
    message = f"{name} not found: install Debian's {DEBIAN_PACKAGE.get(name, name)} (.ci/run does)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        message = f"{what} needs root"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@dataclass
class DockerEngine:
    url: str
    root: Path
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.root, ignore_errors=True)


def start_docker_engine() -> DockerEngine:
    require_root("dockerd")
    dockerd = require_binary("dockerd")
    # A short directory: a unix socket path must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="aeb-engine-", dir="/tmp"))
    socket_path = root / "docker.sock"
    log = root / "dockerd.log"
    command = [dockerd, "--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--bridge=none",
               f"--host=unix://{socket_path}", f"--data-root={root / 'data'}",
               f"--exec-root={root / 'exec'}", f"--pidfile={root / 'dockerd.pid'}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    engine = DockerEngine(f"unix://{socket_path}", root, process, log)
    deadline = time.monotonic() + 60
    import docker

    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if socket_path.exists():
            try:
                docker.APIClient(base_url=engine.url, timeout=5).ping()
                return engine
            except Exception:
                pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:]
    engine.stop()
    pytest.fail(f"dockerd did not come up:\n{tail}")
    raise AssertionError  # unreachable


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    root: Path
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def requests_log(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.root, ignore_errors=True)


def start_registry(htpasswd: tuple[str, str] | None = None, token: tuple[str, str, str, Path] | None = None,
                   foreign_urls: bool = False) -> Registry:
    """A registry on 127.0.0.1; with ``htpasswd=(user, password)`` it demands Basic auth; with
    ``token=(realm, service, issuer, rootcertbundle)`` the token flow (tests/token_server.py). With
    ``foreign_urls`` it accepts manifests whose layers have ``urls`` (foreign layers, as MCR served them), which
    distribution refuses unless ``validation.manifests.urls.allow`` is set."""
    binary = require_binary("docker-registry")
    root = Path(tempfile.mkdtemp(prefix="aeb-registry-", dir="/tmp"))
    port = free_port()
    config = root / "config.yml"
    auth = ""
    if htpasswd:
        tool = require_binary("htpasswd")
        line = subprocess.run([tool, "-Bbn", *htpasswd], check=True, capture_output=True, text=True).stdout
        (root / "htpasswd").write_text(line)
        auth = f"auth: {{htpasswd: {{realm: suite, path: {root / 'htpasswd'}}}}}\n"
    if token:
        realm, service, issuer, bundle = token
        auth = (f"auth: {{token: {{realm: '{realm}', service: {service}, issuer: {issuer}, "
                f"rootcertbundle: {bundle}}}}}\n")
    config.write_text(
        "version: 0.1\n"
        "log: {level: info, accesslog: {disabled: false}}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n" + auth
        + ("validation: {manifests: {urls: {allow: ['^https?://']}}}\n" if foreign_urls else "")
    )
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    registry = Registry(f"127.0.0.1:{port}", root, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{registry.url}/v2/", timeout=2).status_code in (200, 401):
                return registry
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    registry.stop()
    pytest.fail(f"docker-registry did not come up:\n{tail}")
    raise AssertionError  # unreachable


BUSYBOX_APPLETS = ("sh", "echo", "cat", "ls", "true", "false", "env", "sleep", "printf", "test")


def busybox_rootfs_tar(dest: Path) -> Path:
    """A tiny Linux root filesystem (static busybox with relative applet links) as a tar file."""
    busybox = require_binary("busybox")
    tar_path = dest / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for folder in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return tar_path
