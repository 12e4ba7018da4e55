"""What a node owner cannot see from the rules: warnings as data, pure functions (no I/O).

Each function takes what is known (a node's build with its revision when given, an image's ``os.version`` from
matrix.lock.json, an Argo version) and returns warning strings; ``which``, ``plan``, ``doctor`` and the table print
them, a line each. The facts, with their sources (docs/windows.md, "What node owners cannot see"):

- Revision skew. Within one build, an image whose revision (the fourth field of ``os.version``) is newer than
  the host's has failed under process isolation after some Patch Tuesdays, with ``0xC0370106`` ("The virtual
  machine or container exited unexpectedly") from ``hcs::System::Start``, until the host got the update
  (actions/runner-images#11582: a windows-2025 runner at 10.0.26100.2894 and servercore:ltsc2025 at
  10.0.26100.3194; microsoft/Windows-Containers#591, closed once the host installed KB5058411). The rules
  (hcsshim ``osversion``) compare builds only, so they cannot say it.
- Init-less pods. Argo v4.1's init-less pod layout (beta, off by default, controller-wide:
  ``initlessPod.enabled`` in the controller's ConfigMap; argo-workflows docs/initless-pod.md) delivers argoexec
  into main through a Kubernetes image volume (workflow/controller/workflowpod.go, ``buildArgoBinVolume``:
  ``VolumeSource.Image``). containerd has no image volumes on Windows (containerd/containerd#11903, open;
  PR #13496 adds read-only mounts and is open), so with that layout on, workflow pods cannot run on Windows nodes.
- Windows 11 25H2 (10.0.26200). By hcsshim's stable-ABI rule ltsc2025 (10.0.26100) images run there, but
  microsoft/hcsshim#2566 reports them failing in both isolation modes (``hcsshim::PrepareLayer``: "The container
  image contains a layer with an unrecognized format", 0xc0370112), while ltsc2022 works.
"""

from __future__ import annotations

from .compat import WindowsBuild, build_number

REVISION_SKEW = ("image revision {image} is newer than host revision {host}: process isolation may fail until "
                 "the host is patched")
REVISION_SKEW_ERROR = "0xc0370106"
INITLESS_URL = "https://github.com/containerd/containerd/issues/11903"
INITLESS = ("init-less mode cannot run {where}: Argo {argo}'s init-less pods (beta) need image volumes, "
            "which containerd lacks on Windows (containerd#11903): keep the default layout")
INITLESS_SINCE = (4, 1)
WIN11_25H2 = 26200
LTSC2025 = 26100
HCSSHIM_2566_URL = "https://github.com/microsoft/hcsshim/issues/2566"
REPORTED_25H2 = ("reported failing: ltsc2025 (10.0.26100) images on Windows 11 25H2 (10.0.26200), in both isolation "
                 f"modes, though the rules say they run; ltsc2022 images work there (hcsshim#2566, {HCSSHIM_2566_URL})")


def revision(os_version: str | None) -> int | None:
    """The revision of ``10.0.BUILD.REVISION``; None when absent or not a number."""
    parts = (os_version or "").split(".")
    return int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None


def revision_skew(image_os_version: str | None, host: WindowsBuild | None) -> str | None:
    """The warning when the image's revision is newer than the host's, on the same build; None when either
    revision is unknown, the builds differ, or the host is as new."""
    if host is None or host.revision is None:
        return None
    image = revision(image_os_version)
    if image is None or build_number(image_os_version) != host.build or image <= host.revision:
        return None
    return REVISION_SKEW.format(image=image, host=host.revision)


def is_revision_skew_failure(log: str) -> bool:
    """A smoke failure whose log carries 0xC0370106 (any case)."""
    return REVISION_SKEW_ERROR in log.lower()


def initless(argo: str, where: str = "here") -> str | None:
    """The init-less warning for an Argo version that has the layout (v4.1 on)."""
    parts = argo.lstrip("v").split(".")
    try:
        version = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return None
    return INITLESS.format(argo=f"v{version[0]}.{version[1]}", where=where) if version >= INITLESS_SINCE else None


def reported_failing(host_build: int | None, image_build: int | None) -> str | None:
    """A failure reported upstream where the rules predict success: ltsc2025 on Windows 11 25H2."""
    return REPORTED_25H2 if (host_build, image_build) == (WIN11_25H2, LTSC2025) else None


def for_node(node: WindowsBuild, argo: str, image_os_version: str | None) -> list[str]:
    """Every warning for a node (its build, with its revision when known) and the image it would run."""
    found = [revision_skew(image_os_version, node), reported_failing(node.build, build_number(image_os_version)),
             initless(argo)]
    return [warning for warning in found if warning]


def general(argo_versions: list[str]) -> list[str]:
    """The warnings the table carries whatever the node: init-less pods (for the Argo versions that have them)
    and the failures reported where the rules predict success."""
    notes = []
    newest = next((initless(argo, "on Windows nodes") for argo in argo_versions if initless(argo)), None)
    if newest:
        with_layout = [argo for argo in argo_versions if initless(argo)]
        notes.append(f"{', '.join(with_layout)}: {newest}")
    notes.append(f"Windows 11 25H2 (10.0.{WIN11_25H2}): {REPORTED_25H2}")
    return notes
