"""The index tag: one tag for every Windows build, ``<argo>`` whose index has a ``windows/amd64`` entry per base.

Each Windows entry carries ``platform.os.version`` copied from its image's config, newest build
first, so that containerd picks the highest compatible build and the Docker engine on Windows an
exact match (docs/windows.md, "How a node picks an entry of a multi-platform tag"). The ``linux/amd64``
and ``linux/arm64`` entries of upstream's ``argoexec:<argo>`` are copied into the repository by
digest, blobs and manifests each written only when a HEAD does not find them. Every child is
checked to be in the repository before the index is written; the index bytes are deterministic,
so a re-run that finds the same children writes nothing (no PUT).

A re-run builds on the index the tag holds now (the tool wrote it): a per-base tag still pointing at
one of its entries costs one HEAD, and upstream's linux entries it already has are not copied again,
so publishing an unchanged Argo version costs two GETs (the index, upstream's index) and a HEAD per base.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from . import checks
from .compat import build_number
from .errors import IndexIncomplete, NothingSelected, RegistryError
from .matrix import Matrix
from .oci.blob import RemoteBlob
from .oci.write import copy_blob
from .progress import Progress
from .registry import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    Reference,
    RegistryClient,
    image_config,
    image_index,
    image_manifest,
    sha256_digest,
)

LINUX_PLATFORMS = (("linux", "amd64"), ("linux", "arm64"))


@dataclass(frozen=True)
class Entry:
    media_type: str
    digest: str
    size: int
    platform: dict
    target: str | None = None  # the per-base tag it came from (Windows entries); not part of the index

    def to_json(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, "platform": self.platform}


@dataclass(frozen=True)
class Published:
    reference: str
    digest: str
    changed: bool
    entries: tuple[Entry, ...]


def windows_entries(client: RegistryClient, matrix: Matrix, repo: Reference, argo: str,
                    known: dict[str, Entry] | None = None) -> list[Entry]:
    """One entry per Windows base whose per-base tag is in the repository, newest build first.

    ``known``: the entries of the index as it is, by digest; a tag still pointing at one of them is
    taken from there (one HEAD), anything else is read (its manifest and config)."""
    entries = []
    for release in matrix.releases:
        tag = f"{argo}-windows-{release.name}"
        # One HEAD per expected tag rather than the tag list, which registries page.
        digest = client.head_manifest(repo.with_tag(tag))
        if digest is None:
            continue
        if known and digest in known:
            entries.append(dataclasses.replace(known[digest], target=tag))
            continue
        body, media_type, digest = client.get_manifest(repo.with_tag(tag))
        if media_type not in MANIFEST_TYPES:
            raise RegistryError(f"{repo}:{tag} is a {media_type}, not an image manifest")
        manifest = image_manifest(body, f"{repo}:{tag}: the manifest")
        config_digest = manifest["config"]["digest"]
        config = image_config(client.get_blob(repo.registry, repo.repository, config_digest),
                              f"{repo}:{tag}: the config {config_digest[:19]}")
        platform = {"architecture": config.get("architecture", "amd64"), "os": config.get("os", "windows")}
        if config.get("os.version"):
            platform["os.version"] = config["os.version"]
        entries.append(Entry(media_type, digest, len(body), platform, tag))
    return sorted(entries, key=lambda e: _version_key(e.platform.get("os.version")), reverse=True)


def current_entries(client: RegistryClient, reference: Reference) -> tuple[str | None, dict[str, Entry]]:
    """The digest of the index a tag holds now and its entries by digest (None and {} when there is none,
    or when it is not an index of ours to build on)."""
    found = client.find_manifest(reference)
    if found is None:
        return None, {}
    body, media_type, digest = found
    if media_type not in INDEX_TYPES:
        return digest, {}
    try:
        index = image_index(body, f"{reference}: the index")
    except RegistryError:
        return digest, {}
    entries = {}
    for item in index.get("manifests", []):
        if isinstance(item, dict) and isinstance(item.get("platform"), dict) and isinstance(item.get("digest"), str) \
                and isinstance(item.get("size"), int) and isinstance(item.get("mediaType"), str):
            entries[item["digest"]] = Entry(item["mediaType"], item["digest"], item["size"], dict(item["platform"]))
    return digest, entries


def _version_key(os_version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (os_version or "0").split("."))
    except ValueError:
        return (build_number(os_version) or 0,)


def linux_entries(client: RegistryClient, matrix: Matrix, repo: Reference, argo: str,
                  progress: Progress, known: dict[str, Entry] | None = None, dry_run: bool = False) -> list[Entry]:
    """upstream ``argoexec:<argo>``'s linux entries, copied (manifest and blobs) into ``repo`` by digest;
    an entry the index already has (``known``) was copied when it was written, and is taken as it is."""
    upstream = Reference.parse(matrix.mirrored(f"{matrix.registries.argoexec}:{argo}"))
    body, media_type, _ = client.get_manifest(upstream)
    if media_type not in INDEX_TYPES:
        raise RegistryError(f"{upstream} is not an index; cannot take its linux entries")
    index = image_index(body, f"{upstream}: the index")
    entries = []
    for wanted_os, wanted_arch in LINUX_PLATFORMS:
        entry = next((m for m in index.get("manifests", [])
                      if m.get("platform", {}).get("os") == wanted_os
                      and m.get("platform", {}).get("architecture") == wanted_arch), None)
        if entry is None:
            progress.line(f"{upstream} has no {wanted_os}/{wanted_arch} entry")
            continue
        if known and entry["digest"] in known:
            entries.append(Entry(known[entry["digest"]].media_type, entry["digest"], known[entry["digest"]].size,
                                 dict(entry["platform"])))
            continue
        child = Reference(upstream.registry, upstream.repository, None, entry["digest"])
        child_body, child_type, child_digest = client.get_manifest(child)
        if child_type not in MANIFEST_TYPES:
            raise RegistryError(f"{child} is a {child_type}, not an image manifest")
        manifest = image_manifest(child_body, f"{child}: the manifest")
        if dry_run:
            progress.line(f"{child} would be copied into {repo} (with its blobs, when missing)")
            entries.append(Entry(child_type, child_digest, len(child_body), dict(entry["platform"])))
            continue
        for blob in [manifest["config"], *manifest.get("layers", [])]:
            _copy(client, upstream, repo, blob, progress)  # a HEAD each; copied only when missing
        copied = Reference(repo.registry, repo.repository, None, child_digest)
        # A HEAD by digest first: a re-run with nothing changed makes no PUT at all.
        if client.head_manifest(copied, accept=child_type) != child_digest:
            client.put_manifest(copied, child_body, child_type)
        entries.append(Entry(child_type, child_digest, len(child_body), dict(entry["platform"])))
    return entries


def _copy(client: RegistryClient, source: Reference, destination: Reference, blob: dict, progress: Progress) -> None:
    copy_blob(client, RemoteBlob(blob["digest"], blob["size"], blob["mediaType"], source, client), destination,
              progress)


def index_bytes(entries: list[Entry]) -> bytes:
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [e.to_json() for e in entries]}
    return json.dumps(index, separators=(",", ":")).encode()


def publish_index(client: RegistryClient, matrix: Matrix, repo: Reference, argo: str, progress: Progress,
                  with_linux: bool = True, expected: tuple[str, ...] = (), partial: bool = False,
                  dry_run: bool = False) -> Published:
    """Write ``REPO:<argo>``. ``expected``: the per-base tags the index must have; when one is missing the
    index is left as it is (its nodes keep their entry) unless ``partial``. ``dry_run``: everything is read
    and decided, nothing copied or written."""
    progress.begin(f"publish {repo}:{argo}")
    target = repo.with_tag(argo)
    current, known = current_entries(client, target)
    windows = windows_entries(client, matrix, repo, argo, known)
    if not windows:
        progress.end(f"{repo}:{argo}", checks.FAIL, "no per-base tags")
        raise NothingSelected(f"{repo} has no {argo}-windows-<base> tags to publish; push them first "
                              f"(`invoke build --builder oci --to {repo}`)")
    missing = [tag for tag in expected if tag not in {entry.target for entry in windows}]
    if missing and not partial:
        progress.end(f"{repo}:{argo}", checks.FAIL, f"missing {', '.join(missing)}")
        raise IndexIncomplete(f"{repo}:{argo} not written: {len(missing)} expected Windows entr"
                              f"{'y is' if len(missing) == 1 else 'ies are'} missing ({', '.join(missing)}); nodes of "
                              "those builds would lose their image. Build and push them (`invoke build --to`), or "
                              "pass --partial to publish without them", tuple(windows))
    for entry in windows:
        progress.line(f"windows/amd64 {entry.platform.get('os.version')} {entry.digest}")
    linux = linux_entries(client, matrix, repo, argo, progress, known, dry_run) if with_linux else []
    entries = windows + linux
    body = index_bytes(entries)
    digest = sha256_digest(body)
    changed = current != digest
    if changed and dry_run:
        progress.line(f"{target} would be written ({len(entries)} entries)")
    elif changed:
        # Nothing half-published: every child must be in the repository before the index points at it.
        for entry in entries:
            if client.head_manifest(Reference(repo.registry, repo.repository, None, entry.digest)) is None:
                raise RegistryError(f"{repo}@{entry.digest} is missing; not writing an index that points at it")
        client.put_manifest(target, body, OCI_INDEX)
    progress.end(f"{repo}:{argo}", checks.PASS, f"{digest} ({'written' if changed else 'unchanged'})")
    return Published(str(target), digest, changed, tuple(entries))
