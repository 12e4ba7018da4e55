"""A stand-in argoexec for pod-shaped tests: tests/data/pod_standin (Go, standard library only), compiled here.

It implements what a pod needs of upstream's executor (Argo Workflows v4.1.2) on a plain Docker engine:
``argoexec version [--short]``, ``argoexec init`` (copies the ``argoexec`` found on PATH to
``/var/run/argo/argoexec``, 0555, and writes ``/var/run/argo/template``, 0444) and ``argoexec emissary
... -- CMD ARGS`` (runs the command, writes ``/var/run/argo/ctr/<ARGO_CONTAINER_NAME>/exitcode`` and exits
with the child's code). tests/data/pod_standin/main.go says which upstream file each behaviour follows and
where the stand-in is stricter (init insists on every variable the controller sets) or smaller.

``build_pod_standin(out_dir, mode=..., goos=..., goarch=..., version=...)`` compiles it with the Go on PATH
(Debian's golang-go 1.19 is enough): ``CGO_ENABLED=0``, ``-trimpath``, ``GOPROXY=off``, ``GOCACHE`` and
``GOPATH`` under ``out_dir``, so a static binary that runs in a busybox image. Each (mode, goos, goarch,
version) is compiled once per ``out_dir`` in this process; ``PodStandins`` hands a session fixture one folder.
Under ``CI=true`` a missing ``go`` fails the calling test, elsewhere it skips it (like tests/infra.py).

``executor_image(docker_client, base_image, exe, tag)`` builds an image with it at /bin/argoexec (offline);
``wine_prefix(root)`` makes a Wine prefix where the windows build sees ``/var/run/argo`` as a Windows node
would (``C:\\var\\run\\argo``; see ``WinePrefix``).

Modes (``-ldflags -X main.mode=...``):

- ``ok``: the behaviour above;
- ``no-copy``: init exits 0 and writes the template but does not copy the binary;
- ``lose-exitcode``: emissary never writes the exitcode file, and still exits with the child's code;
- ``wrong-exitcode``: emissary always writes ``0`` there, and still exits with the child's code.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import infra

SOURCE = Path(__file__).parent / "data" / "pod_standin"
MODES = ("ok", "no-copy", "lose-exitcode", "wrong-exitcode")
# Stamped like a clean, tagged upstream release: `argoexec version` then prints the tag (version.go).
STANDIN_COMMIT = "0123456789abcdef0123456789abcdef01234567"
STANDIN_BUILD_DATE = "2024-01-02T03:04:05Z"

_built: dict[tuple, Path] = {}
_lock = threading.Lock()


def require_go() -> str:
    return infra.require_binary("go")


def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCE.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_pod_standin(out_dir: Path, mode: str = "ok", goos: str = "linux", goarch: str = "amd64",
                      version: str = "v4.1.2") -> Path:
    """The stand-in argoexec compiled for goos/goarch (``argoexec``, ``argoexec.exe`` for windows)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    out_dir = Path(out_dir).resolve()
    key = (str(out_dir), mode, goos, goarch, version, _source_digest())
    with _lock:
        if key in _built and _built[key].is_file():
            return _built[key]
        go = require_go()
        exe = out_dir / f"{mode}-{goos}-{goarch}-{version}" / ("argoexec.exe" if goos == "windows" else "argoexec")
        exe.parent.mkdir(parents=True, exist_ok=True)
        ldflags = " ".join(f"-X main.{name}={value}" for name, value in (
            ("version", version), ("buildDate", STANDIN_BUILD_DATE), ("gitCommit", STANDIN_COMMIT),
            ("gitTag", version), ("gitTreeState", "clean"), ("mode", mode)))
        env = {key: value for key, value in os.environ.items() if not key.startswith("GO")}
        env.update(CGO_ENABLED="0", GOOS=goos, GOARCH=goarch, GOCACHE=str(out_dir / "gocache"),
                   GOPATH=str(out_dir / "gopath"), GOPROXY="off", GOFLAGS="", GO111MODULE="on", GOWORK="off",
                   GOTOOLCHAIN="local", GOENV="off")
        result = subprocess.run([go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(exe), "."], cwd=SOURCE,
                                env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.fail(f"go build of the pod stand-in ({mode}, {goos}/{goarch}) failed:\n"
                        f"{result.stdout}{result.stderr}")
        _built[key] = exe
        return exe


class PodStandins:
    """One folder for a session's builds: ``standins(mode="no-copy", goos="windows")`` -> Path.

    For a session fixture: ``return PodStandins(tmp_path_factory.mktemp("pod-standin"))``.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)

    def __call__(self, mode: str = "ok", goos: str = "linux", goarch: str = "amd64",
                 version: str = "v4.1.2") -> Path:
        return build_pod_standin(self.out_dir, mode=mode, goos=goos, goarch=goarch, version=version)


def executor_image(docker_client, base_image: str, exe: Path, tag: str) -> str:
    """An image FROM base_image with ``exe`` at /bin/argoexec (on the default PATH), built offline; -> tag."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = f"FROM {base_image}\nCOPY argoexec /bin/argoexec\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(str(exe), arcname="argoexec", filter=lambda member: _mode(member, 0o755))
    context.seek(0)
    docker_client.images.build(fileobj=context, custom_context=True, tag=tag, network_mode="none", rm=True)
    return tag


def _mode(member: tarfile.TarInfo, mode: int) -> tarfile.TarInfo:
    member.mode, member.uid, member.gid, member.uname, member.gname = mode, 0, 0, "root", "root"
    return member


@dataclass
class WinePrefix:
    """A Wine prefix laid out like a Windows pod's filesystem, for the stand-in's windows/amd64 build.

    The prefix has no Z: drive: Wine maps a path that starts with ``/`` to the Unix root through Z:
    (``/var/run/argo`` would be the host's), whereas Windows roots it on the current drive. Without Z:,
    and with the current directory on C:, ``/var/run/argo`` is ``C:\\var\\run\\argo`` as on a Windows
    node, and nothing outside the prefix is reachable. ``mount()`` makes that folder (the kubelet's
    volume); ``install(exe)`` puts the image's binary at ``C:\\app\\argoexec.exe`` (on PATH via WINEPATH).
    """

    root: Path
    wine: str
    env: dict

    @property
    def drive_c(self) -> Path:
        return self.root / "drive_c"

    @property
    def var_run_argo(self) -> Path:
        return self.drive_c / "var" / "run" / "argo"

    def mount(self) -> Path:
        shutil.rmtree(self.var_run_argo, ignore_errors=True)
        self.var_run_argo.mkdir(parents=True)
        return self.var_run_argo

    def install(self, exe: Path) -> str:
        (self.drive_c / "app").mkdir(exist_ok=True)
        shutil.copyfile(exe, self.drive_c / "app" / "argoexec.exe")
        return "C:\\app\\argoexec.exe"

    def run(self, program: str, *args: str, env: dict | None = None, timeout: float = 120
            ) -> subprocess.CompletedProcess:
        """Run a Windows program (a C:\\ path) with C:\\ as the current directory."""
        z_drive = self.root / "dosdevices" / "z:"
        if z_drive.exists() or z_drive.is_symlink():
            raise AssertionError(f"{self.root}: a Z: drive came back; refusing to run with the host's / reachable")
        return _run_to_files([self.wine, program, *args], self.drive_c, {**self.env, **(env or {})}, timeout)

    def stop(self) -> None:
        server = shutil.which("wineserver")
        if server:  # this prefix's server only
            subprocess.run([server, "-k"], env=self.env, capture_output=True, timeout=60)


def _run_to_files(argv: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    # Files, not pipes: Wine's helper processes (services.exe...) outlive the program and keep a pipe open.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                              timeout=timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, done.returncode, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


def wine_prefix(root: Path) -> WinePrefix:
    """A new prefix at ``root`` without its Z: drive, with a persistent wineserver (``stop()`` ends it).

    About five seconds; under CI=true a missing wine fails the calling test, elsewhere it skips it.
    """
    wine, server = shutil.which("wine"), shutil.which("wineserver")
    if not wine or not server:
        message = "wine not found: install Debian's wine (scripts/install-test-deps does)"
        if infra.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "WINEPREFIX": str(root), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml=",
           "WINEPATH": "C:\\app"}
    root.mkdir(parents=True, exist_ok=True)
    # A persistent server for this prefix: each run then takes well under a second instead of starting one.
    subprocess.run([server, "-p"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    prefix = WinePrefix(root, wine, env)
    boot = _run_to_files([wine, "wineboot", "--init"], root, env, 300)
    if not (root / "drive_c").is_dir():
        prefix.stop()
        pytest.fail(f"wineboot did not make a prefix:\n{boot.stdout}{boot.stderr}")
    z_drive = root / "dosdevices" / "z:"
    if z_drive.exists() or z_drive.is_symlink():
        z_drive.unlink()
    return prefix
