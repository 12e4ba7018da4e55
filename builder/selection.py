"""Which entry of a multi-platform tag a Windows node pulls: the selection rules of Docker Engine and containerd.

Pure functions over (index entries, host build): no I/O. Both runtimes are given the same index and may
answer differently; ``disagreement`` says so. The facts, from reading each project's code:

- [moby-select] moby/moby ``daemon/internal/distribution/pull_v2_windows.go``: ``filterManifests`` keeps the
  entries of the daemon's architecture whose OS the daemon runs (windows); of the Windows ones it drops those
  ``checkImageCompatibility`` refuses: an ``os.version`` whose third field (the build) is newer than the
  host's. An entry with no or a malformed ``os.version`` is not refused. The survivors are sorted stably
  (``manifestsByVersion``) so that an entry whose ``os.version`` starts with the host's ``MAJOR.MINOR.BUILD.``
  comes first (``versionMatch``: the revision must be there, a bare ``10.0.B`` does not match); otherwise
  list order is kept. ``pull_v2.go`` ``pullManifestList`` pulls the first of them.
- [containerd-select] containerd/platforms ``defaults_windows.go`` (``Default``: a ``windowsMatchComparer``
  for the host's ``major.minor.build``) and ``platform_windows_compat.go``: an entry matches when OS and
  architecture match and ``checkWindowsHostAndContainerCompat`` accepts its build (the same rule as hcsshim
  ``osversion.CheckHostAndContainerCompat``: before LTSC2022 the builds must be equal; from it on, builds
  from the newest stable-ABI LTSC older than the host up to the host's own); an empty ``os.version`` matches
  any host. ``windowsMatchComparer.Less`` puts matches first and, between two matches, the greater
  ``os.version`` compared as text. containerd ``core/images/image.go`` ``Manifest`` filters an index's
  entries with the matcher, sorts them with ``Less`` (``sort.SliceStable``) and takes the first; the CRI
  image service reads the image config through it (``image.Config``). That ordering is containerd/platforms
  v1.0.0-rc.2 on, which containerd 2.1.6 and later and 2.2 on ship (their go.mod). Before it (read in
  containerd's tree at each tag): 1.7.x (``platforms.Default`` is ``Only(DefaultSpec())``, whose ``Less``
  ranks by the platform list, so matches keep the index's order under the stable sort), 2.0.x and 2.1.0-2.1.5
  (containerd/platforms rc.0 and rc.1) keep the index order among matching entries; only 1.6.x
  (``platforms/defaults_windows.go``, ``matchComparer.Less``) orders matches by their revision. And
  1.6.0-1.6.22 and 1.7.0-1.7.5 match only the host's exact build (``strings.HasPrefix`` on
  ``MAJOR.MINOR.BUILD``); 1.6.23 and 1.7.6 on use hcsshim's ``CheckHostAndContainerCompat``. The functions
  here follow the current rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .compat import HCSSHIM_STABLE_ABI, WindowsBuild

DOCKER = "docker"
CONTAINERD = "containerd"
RUNTIMES = (DOCKER, CONTAINERD)
RUNTIME_LABELS = {DOCKER: "Docker Engine", CONTAINERD: "containerd"}


@dataclass(frozen=True)
class Entry:
    """One entry of an image index: its platform (``os``, ``architecture``, ``os.version``) and a name to show."""

    name: str
    os: str = "windows"
    architecture: str = "amd64"
    os_version: str | None = None
    digest: str | None = None
    # The entry as it will be published, known only as 10.0.BUILD: publish copies the base's os.version, which
    # always carries a revision (10.0.BUILD.REVISION), so Docker's exact-build test treats it as having one.
    revision_pending: bool = False

    def to_json(self) -> dict:
        return {"name": self.name, "os": self.os, "architecture": self.architecture,
                "os_version": self.os_version, "digest": self.digest}

    def names_build(self, host: WindowsBuild) -> bool:
        """moby's ``versionMatch``: the os.version starts with the host's ``MAJOR.MINOR.BUILD.``."""
        prefix = f"{host.major}.{host.minor}.{host.build}."
        text = self.os_version or ""
        return text.startswith(prefix) or (self.revision_pending and text + "." == prefix)


@dataclass(frozen=True)
class Pick:
    """What one runtime on one host takes from an index: ``entry`` (None: nothing matches) and why."""

    runtime: str
    entry: Entry | None
    candidates: tuple[Entry, ...]  # the entries it would accept, in the order it tries them
    rule: str

    def to_json(self) -> dict:
        return {"runtime": self.runtime, "entry": self.entry.to_json() if self.entry else None,
                "candidates": [c.name for c in self.candidates], "rule": self.rule}


def _host(host: WindowsBuild | str) -> WindowsBuild:
    return host if isinstance(host, WindowsBuild) else WindowsBuild.parse(host)


def _moby_build(os_version: str | None) -> int | None:
    """The build ``checkImageCompatibility`` reads: the third dot-separated field, when it is a number."""
    parts = (os_version or "").split(".")
    if len(parts) >= 3 and parts[2].isascii() and parts[2].isdigit():
        return int(parts[2])
    return None


def docker_pick(entries: Iterable[Entry], host: WindowsBuild | str, architecture: str = "amd64") -> Pick:
    """The entry Docker Engine on a Windows ``host`` pulls from an index [moby-select]."""
    host = _host(host)
    kept = []
    for entry in entries:
        if entry.architecture != architecture or entry.os.lower() != "windows":
            continue
        build = _moby_build(entry.os_version)
        if build is not None and build > host.build:
            continue
        kept.append(entry)
    exact = [e for e in kept if e.names_build(host)]
    ordered = tuple(exact + [e for e in kept if e not in exact])
    if not ordered:
        return Pick(DOCKER, None, (), f"no windows/{architecture} entry of build {host.build} or older: the pull "
                                      "fails (no matching manifest)")
    if exact:
        rule = f"exact build match ({host.base}.*), taken before the {len(ordered) - 1} other entries not newer"
    else:
        rule = (f"no entry of build {host.base}.*: the first of the {len(ordered)} entries not newer than the node, "
                "in the index's order")
    return Pick(DOCKER, ordered[0], ordered, rule)


def _containerd_version(os_version: str) -> tuple[int, int, int]:
    """``getWindowsOSVersion``: major.minor.build, or zeros when the text is not one (which then matches nothing)."""
    parts = os_version.split(".")
    if len(parts) < 3:
        return (0, 0, 0)
    try:
        major, minor, build = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return (0, 0, 0)
    if not (0 <= major < 256 and 0 <= minor < 256 and 0 <= build < 65536):
        return (0, 0, 0)
    return (major, minor, build)


def containerd_window(host: WindowsBuild | str, stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> tuple[int, int]:
    """The builds (lowest, highest) a host's containerd accepts [containerd-select]: its own build before the
    first stable-ABI LTSC; from it on, from the newest stable-ABI LTSC older than the host to the host."""
    host = _host(host)
    ltsc = sorted(stable_abi)
    if not ltsc or host.build < ltsc[0]:
        return (host.build, host.build)
    floor = max((b for b in ltsc if b < host.build), default=ltsc[0])
    return (floor, host.build)


def containerd_accepts(host: WindowsBuild | str, os_version: str | None,
                       stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> bool:
    host = _host(host)
    if not os_version:
        return True
    major, minor, build = _containerd_version(os_version)
    if (major, minor) != (host.major, host.minor):
        return False
    low, high = containerd_window(host, stable_abi)
    return low <= build <= high


def containerd_pick(entries: Iterable[Entry], host: WindowsBuild | str,
                    stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI, architecture: str = "amd64") -> Pick:
    """The entry containerd (CRI) on a Windows ``host`` runs from an index [containerd-select]."""
    host = _host(host)
    matched = [e for e in entries if e.os.lower() == "windows" and e.architecture == architecture
               and containerd_accepts(host, e.os_version, stable_abi)]
    # Greatest os.version (as text) first, as Less orders two matches; equal ones keep their order (a stable
    # sort: Python's stays stable with reverse=True, like sort.SliceStable).
    ordered = tuple(sorted(matched, key=lambda e: e.os_version or "", reverse=True))
    low, high = containerd_window(host, stable_abi)
    window = f"build {low} exactly" if low == high else f"builds {low} to {high} (the stable-ABI window)"
    if not ordered:
        return Pick(CONTAINERD, None, (), f"no windows/{architecture} entry of {window}: the pull fails (no match "
                                          "for platform in manifest)")
    if len(ordered) == 1:
        rule = f"the only entry of {window}"
    else:
        rule = f"the greatest os.version of the {len(ordered)} entries of {window}"
    return Pick(CONTAINERD, ordered[0], ordered, rule)


def picks(entries: Sequence[Entry], host: WindowsBuild | str,
          stable_abi: Sequence[int] = HCSSHIM_STABLE_ABI) -> dict[str, Pick]:
    """Both runtimes' picks, by runtime name."""
    return {DOCKER: docker_pick(entries, host), CONTAINERD: containerd_pick(entries, host, stable_abi)}


def disagreement(docker: Pick, containerd: Pick) -> str | None:
    """Why the two runtimes would run different images on the same node, or None when they agree."""
    if docker.entry is None:
        if containerd.entry is None:
            return "no entry matches this node under either runtime"
        return f"Docker Engine finds no entry; containerd takes {containerd.entry.name}"
    if containerd.entry is None:
        return f"Docker Engine takes {docker.entry.name}; containerd finds no entry"
    if docker.entry == containerd.entry:
        return None
    return f"Docker Engine takes {docker.entry.name}, containerd takes {containerd.entry.name}"
