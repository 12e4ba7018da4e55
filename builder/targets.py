"""Targets and their selection: ``--base``, ``--argo``, ``--only``, ``--skip``.

A target is one image to make: (Argo version, os, Windows base), with the stable id
``<argo>-windows-<base>`` (e.g. ``v4.1.2-windows-1909``) that ``--only``/``--skip`` globs match.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .compat import OLDER_SPELLINGS
from .errors import InputError, NothingSelected
from .matrix import ArgoVersion, LinuxBase, Matrix, WindowsRelease

ALL = "all"


@dataclass(frozen=True)
class Target:
    argo: ArgoVersion
    release: WindowsRelease | LinuxBase

    @property
    def os(self) -> str:
        return "linux" if isinstance(self.release, LinuxBase) else "windows"

    @property
    def is_windows(self) -> bool:
        return self.os == "windows"

    @property
    def windows(self) -> WindowsRelease:
        """The Windows release of a Windows target; asking a Linux target for one is a bug (TypeError)."""
        if isinstance(self.release, LinuxBase):
            raise TypeError(f"{self.id}: a Linux target has no Windows release")
        return self.release

    @property
    def id(self) -> str:
        return f"{self.argo.tag}-{self.os}-{self.release.name}"

    @property
    def base(self) -> str:
        return self.release.name

    @property
    def platform(self) -> str:
        return self.release.platform if isinstance(self.release, LinuxBase) else "windows/amd64"

    def tagged(self, repo: str) -> str:
        """The per-target tag of this image in ``repo``: ``<repo>:<target-id>``."""
        return f"{repo}:{self.id}"


def _split(values: Iterable[str] | str | None) -> list[str]:
    """Accept repeated flags and comma-separated values alike."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def all_targets(matrix: Matrix) -> list[Target]:
    """Every target of the matrix, newest Argo first, Windows bases in build order, then Linux flavours."""
    releases = sorted(matrix.releases, key=lambda r: r.build)
    targets = []
    for argo in sorted(matrix.argo, key=lambda a: a.version, reverse=True):
        for release in releases:
            if argo.bases is None or release.name in argo.bases:
                targets.append(Target(argo, release))
        targets.extend(Target(argo, flavour) for flavour in matrix.linux)
    return targets


def select(matrix: Matrix, bases: Iterable[str] | str | None = None, argo: Iterable[str] | str | None = None,
           only: Iterable[str] | str | None = None, skip: Iterable[str] | str | None = None,
           default_bases: str | None = ALL) -> list[Target]:
    """Resolve the selection flags to targets.

    ``bases``: release names or aliases (case-insensitive), or ``all``; none given means
    ``default_bases``. ``argo``: tags, or ``all``; none given means the newest in the matrix.
    Unknown names are bad input (exit 2); a selection matching nothing exits 3.
    """
    if bases is not None and not _split(bases) and (bases if isinstance(bases, str) else list(bases)):
        raise InputError("--base is empty: give a base name from the matrix, or all")
    base_names = _split(bases) or _split(default_bases)
    if not base_names:
        raise InputError("--base is required: a base name from the matrix (repeatable), or all")
    wanted_releases: set[str] | None
    if any(name.lower() == ALL for name in base_names):
        wanted_releases = None
    else:
        wanted_releases = set()
        for name in base_names:
            release = matrix.base(name)
            older = OLDER_SPELLINGS.get(name.strip().lower()) or (name.strip() if re.fullmatch(
                r"10\.0\.14393(\.[0-9]+)?", name.strip()) else None)
            if release is None and older:
                raise InputError(f"--base {name}: Windows Server 2016 ({older}) is not supported: no nanoserver of "
                                 f"{matrix.file} is of its build, and none newer runs there; choose a base of the "
                                 "matrix, or all")
            if release is None:
                known = ", ".join([r.name + (f" ({'/'.join(r.aliases)})" if r.aliases else "")
                                   for r in sorted(matrix.releases, key=lambda r: r.build)]
                                  + [f"{b.name} (linux)" for b in matrix.linux])
                raise InputError(f"--base {name}: unknown Windows base in {matrix.file}; "
                                 f"known bases: {known}, or all")
            wanted_releases.add(release.name)

    argo_names = _split(argo)
    wanted_argo: set[str] | None
    if not argo_names:
        wanted_argo = {matrix.newest_argo.tag}
    elif any(name.lower() == ALL for name in argo_names):
        wanted_argo = None
    else:
        known_tags = {a.tag: a.tag for a in matrix.argo}
        known_tags.update({a.tag.lstrip("v"): a.tag for a in matrix.argo})
        wanted_argo = set()
        for name in argo_names:
            if name not in known_tags:
                raise InputError(f"--argo {name}: not an Argo version in {matrix.file}; known versions: "
                                 f"{', '.join(a.tag for a in matrix.argo)}, or all")
            wanted_argo.add(known_tags[name])

    only_patterns, skip_patterns = _split(only), _split(skip)
    selected = [
        target for target in all_targets(matrix)
        if (wanted_releases is None or target.release.name in wanted_releases)
        and (wanted_argo is None or target.argo.tag in wanted_argo)
        and (not only_patterns or any(fnmatch.fnmatchcase(target.id, p) for p in only_patterns))
        and not any(fnmatch.fnmatchcase(target.id, p) for p in skip_patterns)
    ]
    if not selected:
        described = []
        if base_names:
            described.append(f"--base {','.join(base_names)}")
        described.append(f"--argo {','.join(sorted(wanted_argo)) if wanted_argo else 'all'}")
        if only_patterns:
            described.append(f"--only {','.join(only_patterns)}")
        if skip_patterns:
            described.append(f"--skip {','.join(skip_patterns)}")
        raise NothingSelected(f"no target matches {' '.join(described)}; `invoke plan --base all --argo all` "
                              "lists every target id")
    return selected
