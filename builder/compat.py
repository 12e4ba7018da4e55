"""Windows container compatibility: the one place builds are compared.

Every rule here is a fact from Microsoft or from the container runtimes; each
carries its source. Nothing else in the package compares two Windows builds:
planning, building, smoke tests and the table all ask this module.

Sources
- [MS-compat] Microsoft, "Windows container version compatibility"
  (learn.microsoft.com/virtualization/windowscontainers/deploy-containers/version-compatibility).
- [hcsshim] microsoft/hcsshim ``osversion.CheckHostAndContainerCompat`` (also used by
  containerd's ``platforms`` matcher on Windows nodes).
- [moby-pull] moby/moby image pull on Windows: "a Windows version 10.0.X-based image is
  incompatible with a 10.0.Y host" when the image build is newer than the host.
- [engine-info] Docker Engine API ``GET /info`` on Windows (KernelVersion, OSVersion,
  OperatingSystem, Isolation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# [hcsshim] ``compatLTSCReleases``: the LTSC builds with a stable ABI (LTSC2022 and, since 2025,
# LTSC2025). A host at or past the first of them runs images from the newest one not newer than
# itself up to its own build; before the first, only its own build. Which releases are on that
# list is data: ``stable_abi: true`` in matrix.yaml, read as ``Matrix.stable_abi``. This default
# serves callers that have no matrix at hand; the pipeline always passes the matrix's list.
LTSC2016 = 14393
HCSSHIM_STABLE_ABI = (20348, 26100)

PROCESS = "process"
HYPERV = "hyperv"
ISOLATIONS = (PROCESS, HYPERV)

BUILD_PROCESS = "docker-process"
BUILD_HYPERV = "docker-hyperv"
BUILD_NONE = "none"

_BUILD_RE = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,6})(?:\.(\d{1,7}))?\Z", re.ASCII)


@dataclass(frozen=True, order=True)
class WindowsBuild:
    """A Windows OS version ``MAJOR.MINOR.BUILD[.REVISION]`` (the ``os.version`` of an image)."""

    major: int
    minor: int
    build: int
    revision: int | None = None

    @classmethod
    def parse(cls, text: str) -> WindowsBuild:
        """Parse ``10.0.17763`` or ``10.0.17763.5329``; ValueError says what is expected."""
        if not isinstance(text, str):
            raise ValueError(f"expected a string like 10.0.17763, got {type(text).__name__}")
        match = _BUILD_RE.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a Windows build; expected 10.0.BUILD or 10.0.BUILD.REVISION")
        major, minor, build, revision = match.groups()
        if (int(major), int(minor)) != (10, 0):
            raise ValueError(f"{text!r}: only Windows 10.0.* builds run containers; expected 10.0.BUILD")
        return cls(int(major), int(minor), int(build), int(revision) if revision is not None else None)

    @property
    def base(self) -> str:
        """``10.0.BUILD`` without the revision."""
        return f"{self.major}.{self.minor}.{self.build}"

    def __str__(self) -> str:
        return self.base if self.revision is None else f"{self.base}.{self.revision}"


# Windows releases older than every base a matrix can have, by the names nodes are known by: recognised, so that a
# node of one is answered "not supported" (no image runs there) rather than "unknown node". Windows Server 2016 is
# build 10.0.14393 (Microsoft's "Windows Server release information"; see docs/windows.md): no nanoserver from
# 1809 on runs on it, and Microsoft's 2016 nanoserver images were retired.
OLDER_RELEASES = {14393: "Windows Server 2016"}
OLDER_SPELLINGS = {"2016": "10.0.14393", "ltsc2016": "10.0.14393", "1607": "10.0.14393"}


def build_number(os_version: str | None) -> int | None:
    """The BUILD of an ``os.version`` (``10.0.17763.6893`` -> 17763), or None if it is not one."""
    try:
        return WindowsBuild.parse(os_version).build if os_version else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def _as_build(value: WindowsBuild | str) -> WindowsBuild:
    return value if isinstance(value, WindowsBuild) else WindowsBuild.parse(value)


def process_isolation(host: WindowsBuild | str, image: WindowsBuild | str,
                      stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> Verdict:
    """Whether ``image`` runs on ``host`` with process isolation, and why."""
    host, image = _as_build(host), _as_build(image)
    if (host.major, host.minor) != (image.major, image.minor):
        return Verdict(False, f"image {image.base} and host {host.base} differ in major.minor version")
    ltsc = sorted(stable_abi)
    first = ltsc[0] if ltsc else None
    if first is None or host.build < first:
        if image.build != host.build:
            # [MS-compat] [hcsshim]: before Windows Server 2022 the builds must be equal.
            return Verdict(False, f"process isolation on a {host.base} host needs a {host.base} image "
                                  f"(hosts older than 10.0.{first} need the same build)")
        if host.build == LTSC2016:
            # [MS-compat]: Windows Server 2016 also requires the same revision (update level).
            if host.revision is None or image.revision is None:
                return Verdict(True, f"same build {host.base}; on Windows Server 2016 the revisions must match too "
                               "(not checked: a revision is missing)")
            if host.revision != image.revision:
                return Verdict(False, f"Windows Server 2016 hosts need the same revision: image {image}, host {host}")
        return Verdict(True, f"same build {host.base}")
    # [hcsshim] stable ABI from the first LTSC on the list: the floor is the newest listed build
    # strictly older than the host, or the first one when the host is that build itself.
    floor = max([build for build in ltsc if build < host.build], default=first)
    if image.build > host.build:
        return Verdict(False, f"image build {image.build} is newer than the host build {host.build}")
    if image.build < floor:
        return Verdict(False, f"process isolation on a {host.base} host needs an image from 10.0.{floor} "
                              f"to {host.base}")
    return Verdict(True, f"process isolation on a {host.base} host runs images from 10.0.{floor} to {host.base}")


def hyperv_isolation(host: WindowsBuild | str, image: WindowsBuild | str) -> Verdict:
    """Whether ``image`` runs on ``host`` in a Hyper-V utility VM: any image not newer than the host."""
    host, image = _as_build(host), _as_build(image)
    if (host.major, host.minor) != (image.major, image.minor):
        return Verdict(False, f"image {image.base} and host {host.base} differ in major.minor version")
    if image.build > host.build:
        # [MS-compat]: a newer image never runs, not even with Hyper-V isolation.
        return Verdict(False, f"image build {image.build} is newer than the host build {host.build}")
    return Verdict(True, f"Hyper-V isolation runs any image not newer than the host ({image.base} <= {host.base})")


def engine_can_pull(host: WindowsBuild | str, image: WindowsBuild | str) -> Verdict:
    """[moby-pull] A Windows engine refuses to pull (so to build FROM) an image newer than its host."""
    host, image = _as_build(host), _as_build(image)
    if image.build > host.build:
        return Verdict(False, f"a Windows engine on a {host.base} host refuses to pull a newer "
                              f"{image.base}-based image")
    return Verdict(True, f"a {host.base} engine can pull a {image.base}-based image")


def compat(host: WindowsBuild | str, image: WindowsBuild | str,
           stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> dict[str, Any]:
    """The answer of ``invoke compat``: ``{"process": bool, "hyperv": bool, "reason": str}``."""
    process = process_isolation(host, image, stable_abi)
    hyperv = hyperv_isolation(host, image)
    return {
        "process": process.ok,
        "hyperv": hyperv.ok,
        "reason": f"process: {process.reason}; hyperv: {hyperv.reason}",
    }


@dataclass(frozen=True)
class Placement:
    """Whether and how an image can run (or build) on a host offering some isolation modes."""

    isolation: str | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.isolation is not None


def choose_isolation(host: WindowsBuild | str, image: WindowsBuild | str,
                     offered: Iterable[str] = ISOLATIONS, stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> Placement:
    """The isolation to run ``image`` with on ``host``: process when allowed, else Hyper-V, else none.

    Process isolation is preferred: it is the default on Windows Server and needs no nested
    virtualization (hosted CI runners have none: actions/runner-images#183).
    """
    offered = tuple(offered)
    process = process_isolation(host, image, stable_abi)
    if process.ok and PROCESS in offered:
        return Placement(PROCESS, process.reason)
    hyperv = hyperv_isolation(host, image)
    if hyperv.ok and HYPERV in offered:
        return Placement(HYPERV, hyperv.reason)
    if not hyperv.ok:
        return Placement(None, hyperv.reason)
    # Hyper-V would work but the host does not offer it.
    if process.ok:
        return Placement(None, f"{process.reason}, but the host offers only {', '.join(offered) or 'no isolation'}")
    return Placement(None, f"{process.reason}, and Hyper-V isolation is not offered")


def choose_build(host: WindowsBuild | str, image: WindowsBuild | str, offered: Iterable[str] = ISOLATIONS,
                 stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> tuple[str, str | None, str]:
    """How a Windows engine on ``host`` builds a Dockerfile ``FROM`` an ``image`` base.

    Returns ``(method, isolation, reason)`` with method ``docker-process``, ``docker-hyperv`` or
    ``none``. The build RUNs steps in the base (the servercore builder stage), so the host must be
    able to pull and run it.
    """
    pull = engine_can_pull(host, image)
    if not pull.ok:
        return BUILD_NONE, None, pull.reason
    placement = choose_isolation(host, image, offered, stable_abi)
    if placement.isolation == PROCESS:
        return BUILD_PROCESS, PROCESS, placement.reason
    if placement.isolation == HYPERV:
        return BUILD_HYPERV, HYPERV, placement.reason
    return BUILD_NONE, None, placement.reason


# ---------------------------------------------------------------------------------------------
# Reading a host's facts from a Docker engine's GET /info  [engine-info]

_KERNEL_RE = re.compile(r"^\s*(\d+)\.(\d+)[ .](\d+)", re.ASCII)
_OS_BUILD_RE = re.compile(r"OS Build (\d+)(?:\.(\d+))?", re.ASCII)


@dataclass(frozen=True)
class HostFacts:
    """What a Docker engine says of its host."""

    os_type: str
    build: WindowsBuild | None
    default_isolation: str | None
    engine_version: str | None
    operating_system: str | None

    @property
    def is_windows(self) -> bool:
        return self.os_type == "windows"


def host_facts_from_info(info: Mapping[str, Any]) -> HostFacts:
    """Read OS type, Windows build (with revision when known), default isolation, engine version.

    The fields are moby's ``system.Info`` (api/types/system/info.go); their formats on Windows:
    - ``OSVersion``: ``10.0.17763``, three parts, sent since moby 20.10 (hcsshim's ``osversion.Get()``,
      pkg/parsers/operatingsystem/operatingsystem_windows.go ``GetOperatingSystemVersion``); read first;
    - ``KernelVersion``: ``10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)`` (the ``.1`` in
      brackets is the kernel file's revision, not the OS update revision);
    - ``OperatingSystem``: ``Microsoft Windows Server Version 21H2 (OS Build 20348.169)`` or
      ``Windows Server 2019 Datacenter Version 1809 (OS Build 17763.5329)``.
    """
    os_type = str(info.get("OSType") or "").lower() or "unknown"
    operating_system = info.get("OperatingSystem") or None
    engine_version = info.get("ServerVersion") or None
    isolation = (info.get("Isolation") or "").lower() or None
    if os_type != "windows":
        return HostFacts(os_type, None, isolation, engine_version, operating_system)

    build: WindowsBuild | None = None
    os_version = info.get("OSVersion")
    if isinstance(os_version, str):
        try:
            build = WindowsBuild.parse(os_version)
        except ValueError:
            build = None
    if build is None:
        kernel = _KERNEL_RE.match(str(info.get("KernelVersion") or ""))
        if kernel:
            build = WindowsBuild(int(kernel.group(1)), int(kernel.group(2)), int(kernel.group(3)))
    os_build = _OS_BUILD_RE.search(str(operating_system or ""))
    if os_build:
        number = int(os_build.group(1))
        revision = int(os_build.group(2)) if os_build.group(2) else None
        if build is None:
            build = WindowsBuild(10, 0, number, revision)
        elif build.build == number and build.revision is None:
            build = WindowsBuild(build.major, build.minor, number, revision)
    return HostFacts(os_type, build, isolation or PROCESS, engine_version, operating_system)
