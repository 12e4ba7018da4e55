"""`invoke refresh`: pin what the matrix names by tag and by version range, in matrix.lock.json.

- Every Windows release's nanoserver and servercore tag (and its ``source_builder``), read through the
  matrix's mirrors: the digest of the windows/amd64 image of the release's build (from an index, the entry
  whose ``os.version`` has that build, the newest revision if several; a single manifest is itself) and
  its full ``os.version`` (the index entry's platform, else the image config).
- The Argo releases ``argo_releases`` selects from GitHub (the newest patch of each of the N newest minor
  series matching the specifier; release candidates only if asked), or without that section the matrix's
  ``argo:`` versions; each with its tag's commit and the ``go`` directive of go.mod at the tag.

The lock goes beside the matrix (builder/lock.py), keyed by the unmirrored references. One line per
change is printed, then a summary; ``check`` writes nothing and fails (exit 1) when the lock would change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .compat import build_number
from .errors import InputError, MatrixError, RegistryError, TargetFailed
from .github import GitHub, Release
from .lock import (
    ARGO_TAG_RE,
    OS_VERSION_RE,
    Lock,
    LockedArgo,
    LockedBase,
    chosen_lock,
    lock_path,
    parse_lock,
    read_lock,
    write_lock,
)
from .lock import display_path as lock_display
from .matrix import DEFAULT_ARGO_REPOSITORY, ArgoReleases, Matrix
from .registry import INDEX_TYPES, MANIFEST_TYPES, Reference, RegistryClient, image_config, image_index, image_manifest
from .render import go_directive


def _revision_key(os_version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (os_version or "").split("."))
    except ValueError:
        return ()


def resolve_base(client: RegistryClient, reference: Reference, build: int, key: str) -> LockedBase:
    """The digest and full os.version of the windows/amd64 image of ``build`` that ``reference`` names."""
    body, media_type, digest = client.get_manifest(reference)
    os_version, index_digest = None, None
    if media_type in INDEX_TYPES:
        index_digest = digest
        index = image_index(body, f"{reference}: the index")
        entries = [m for m in index.get("manifests", []) if isinstance(m.get("platform"), dict)
                   and m["platform"].get("os") == "windows" and m["platform"].get("architecture") == "amd64"]
        of_build = [m for m in entries if build_number(m["platform"].get("os.version")) == build]
        if of_build:
            chosen = max(of_build, key=lambda m: _revision_key(m["platform"].get("os.version")))
        else:
            unversioned = [m for m in entries if "os.version" not in m["platform"]]
            if not unversioned:
                raise RegistryError(f"{reference}: no windows/amd64 10.0.{build} entry in its index")
            chosen = unversioned[0]
        digest, os_version = chosen["digest"], chosen["platform"].get("os.version")
        child = Reference(reference.registry, reference.repository, None, digest)
        body, media_type, _ = client.get_manifest(child)
    if media_type not in MANIFEST_TYPES:
        raise RegistryError(f"{reference}: unsupported manifest type {media_type}")
    # The image's own config says which build it is. An index entry's platform is only a claim: one that
    # says 10.0.20348 over the 1809 image would pin 1809 as ltsc2022 (and the docker builder would use it
    # in FROM). A tag is resolved only when it moved, so this costs one small read a month.
    manifest = image_manifest(body, f"{reference}: the manifest")
    config_digest = manifest["config"]["digest"]
    config = image_config(client.get_blob(reference.registry, reference.repository, config_digest,
                                          size=manifest["config"]["size"]),
                          f"{reference}: the config {config_digest[:19]}")
    actual = config.get("os.version")
    if os_version is None:
        os_version = actual
    elif actual is not None and actual != os_version:
        raise InputError(f"{key} (read from {reference}): its index entry claims os.version {os_version}, but the "
                         f"image it points at ({digest[:19]}…) says {actual} in its config; not pinned. Point the "
                         "matrix or --mirror at a faithful copy of the release's images")
    if not isinstance(os_version, str) or build_number(os_version) != build:
        raise InputError(f"{key} (read from {reference}): os.version {os_version or 'unset'} is not of build "
                         f"10.0.{build}; point the matrix or --mirror at the images of that release")
    if not OS_VERSION_RE.match(os_version):
        raise InputError(f"{key} (read from {reference}): os.version {os_version} has no revision; expected "
                         "10.0.BUILD.REVISION")
    return LockedBase(digest, os_version, index_digest)


def resolve_bases(matrix: Matrix, client: RegistryClient, old: Lock | None = None) -> dict[str, LockedBase]:
    """Each base tag's pin. A tag whose digest (one HEAD) is still the one ``old`` pinned keeps its pin: an
    unchanged month costs one request per tag."""
    bases: dict[str, LockedBase] = {}
    for release in matrix.releases:
        keys = [matrix.base_key(release, flavour) for flavour in ("nanoserver", "servercore")]
        if release.source_builder:
            keys.append(release.source_builder)
        for key in keys:
            if key in bases:
                continue
            reference = Reference.parse(matrix.mirrored(key))
            pinned = old.bases.get(key) if old is not None else None
            if pinned is not None and client.head_manifest(reference) in (pinned.index or pinned.digest,):
                bases[key] = pinned
                continue
            bases[key] = resolve_base(client, reference, release.build.build, key)
    return bases


def select_releases(releases: list[Release], wanted: ArgoReleases,
                    skipped: list[str] | None = None) -> list[Release]:
    """The newest patch of each of the ``newest_minors`` newest minor series whose versions match, newest
    first; tags that are not Argo release tags (vX.Y.Z[-rcN], ASCII digits) are passed over, each with its
    reason appended to ``skipped``; pre-releases unless asked."""
    specifier = wanted.specifier
    newest: dict[tuple[int, int], tuple[Version, Release]] = {}
    for release in releases:
        try:
            version = Version(release.tag[1:]) if ARGO_TAG_RE.match(release.tag) else None
        except InvalidVersion:
            version = None
        if version is None:
            if skipped is not None:
                skipped.append(f"release tag {ascii(release.tag[:80])} is not vX.Y.Z[-rcN]; skipped")
            continue
        if (release.prerelease or version.is_prerelease) and not wanted.prereleases:
            continue
        if not specifier.contains(version, prereleases=True):
            continue
        series = (version.major, version.minor)
        if series not in newest or version > newest[series][0]:
            newest[series] = (version, release)
    return [newest[series][1] for series in sorted(newest, reverse=True)[:wanted.newest_minors]]


def resolve_argo(matrix: Matrix, github: GitHub, say) -> tuple[LockedArgo, ...]:
    wanted = matrix.argo_releases
    if wanted is not None:
        repository = wanted.repository
        skipped: list[str] = []
        chosen = select_releases(github.releases(repository), wanted, skipped)
        for reason in skipped:
            say(f"argo_releases: {repository}: {reason}")
        if not chosen:
            raise InputError(f"{matrix.file}: argo_releases.versions: no release of {repository} matches "
                             f"{wanted.versions!r}{'' if wanted.prereleases else ' (pre-releases excluded)'}; "
                             "expected a specifier some release satisfies")
        versions = []
        for release in chosen:
            published = utc_time(release.published_at)
            if release.published_at is not None and published is None:
                say(f"warning: argo {release.tag}: published_at {ascii(release.published_at[:40])} is not an ISO 8601 "
                    "time with an offset; left out of the lock")
            versions.append((release.tag, published))
    else:
        repository = DEFAULT_ARGO_REPOSITORY
        versions = [(a.tag, None) for a in sorted(matrix.argo, key=lambda a: a.version, reverse=True)]
    matrix_go = {a.tag: a.go for a in matrix.argo}
    locked = []
    for tag, published in versions:
        commit = github.commit(repository, tag)
        go = go_directive(github.file(repository, "go.mod", tag))
        if wanted is None and matrix_go.get(tag) and matrix_go[tag] != go:
            say(f"warning: argo {tag}: go.mod at the tag says go {go}, {matrix.file} says {matrix_go[tag]}; "
                "the lock's go is used")
        locked.append(LockedArgo(tag, commit, go, published))
    return tuple(locked)


def utc_time(text: str | None) -> str | None:
    """A release's ``published_at`` as the lock holds times: UTC, to the second, ending in ``Z``
    (GitHub documents ISO 8601, ``YYYY-MM-DDTHH:MM:SSZ``; a server may write ``+00:00`` or another
    offset). None when it is not an ISO 8601 time with an offset."""
    if not isinstance(text, str) or not text.isascii():
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(digest: str) -> str:
    return f"{digest[:19]}…"


def describe_changes(old: Lock | None, new: Lock) -> list[str]:
    """One line per change: a base's digest, an Argo release added, removed, or its commit or go."""
    lines = []
    before = old.bases if old is not None else {}
    for key in sorted(set(before) | set(new.bases)):
        name = key.rsplit("/", 1)[-1]
        was, now = before.get(key), new.bases.get(key)
        if was == now:
            continue
        if was is None and now is not None:
            lines.append(f"{name} + {_short(now.digest)} ({now.os_version})")
        elif was is not None and now is None:
            lines.append(f"{name} - {_short(was.digest)} ({was.os_version})")
        elif was is not None and now is not None:
            lines.append(f"{name} {_short(was.digest)} -> {_short(now.digest)} ({was.os_version} -> {now.os_version})")
    old_argo = {a.version: a for a in (old.argo or ())} if old is not None else {}
    new_argo = {a.version: a for a in (new.argo or ())}
    order = sorted(set(old_argo) | set(new_argo), key=lambda tag: Version(tag[1:]), reverse=True)
    moved = [f"+ {tag}" for tag in order if tag not in old_argo] + [f"- {tag}" for tag in order if tag not in new_argo]
    if moved:
        lines.append(f"argo: {', '.join(moved)}")
    for tag in order:
        old_release, new_release = old_argo.get(tag), new_argo.get(tag)
        if old_release is None or new_release is None:
            continue
        if old_release.commit != new_release.commit:
            lines.append(f"argo: {tag} commit {old_release.commit[:12]} -> {new_release.commit[:12]}")
        if old_release.go != new_release.go:
            lines.append(f"argo: {tag} go {old_release.go} -> {new_release.go}")
    return lines


def refresh(matrix: Matrix, matrix_path: Path, client: RegistryClient, check: bool = False,
            github: GitHub | None = None, say=print) -> Lock:
    """Resolve the lock of ``matrix`` (loaded without its lock, mirrors applied), print what changed and
    write it (unless ``check``, which raises TargetFailed when it would change)."""
    chosen = chosen_lock(matrix_path, matrix.file)
    path, display = (chosen[0], chosen[1]) if chosen else (lock_path(matrix_path), lock_display(matrix.file))
    try:
        old = read_lock(path, display, must_exist=False)
    except MatrixError as exc:
        say(f"{display}: replacing it: {exc}")
        old = None
    try:
        old_text = path.read_text(encoding="utf-8") if old is not None else None
    except OSError:
        old_text = None
    github = github or GitHub()
    try:
        argo = resolve_argo(matrix, github, say)  # first: a refused token or a rate limit stops before any registry
        bases = resolve_bases(matrix, client, old)
    finally:
        github.close()
    new = Lock(display, dict(sorted(bases.items())), argo)
    counts = f"{len(new.bases)} bases, {len(argo)} Argo release{'s' if len(argo) != 1 else ''}"
    if new.text() == old_text:
        say(f"{display}: unchanged ({counts})")
        return new
    changes = describe_changes(old, new)
    for line in changes:
        say(line)
    count = f"{len(changes)} change{'s' if len(changes) != 1 else ''}" if changes else "no pin changed"
    if check:
        raise TargetFailed(f"{display} is out of date ({count}); run `invoke refresh` and commit it")
    try:  # what every other task will read: refused here, not by each later job of the nightly
        parse_lock(new.text(), display)
    except MatrixError as exc:
        raise TargetFailed(f"refresh made a lock its own reader refuses ({exc}); {display} is not written") from None
    try:
        write_lock(path, new)
    except OSError as exc:
        raise InputError(f"{display}: cannot write it ({exc.strerror or exc})") from None
    say(f"{display}: {'written' if old is None else 'updated'} ({count}; {counts})")
    return new
