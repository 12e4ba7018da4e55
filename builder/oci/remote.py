"""Reading images from a registry: an image for one platform, its layers streamed, files read out of it.

The registry level of the oci package (go-containerregistry's ``remote``): ``resolve`` reads an
image's manifest and config (from an index, the entry of a platform and Windows build);
``extract_files`` reads files out of its layers, newest first, streaming, as hcsshim would import
them (hard links, security descriptors). binaries.py reads upstream's argoexec.exe with them, the
oci builder its bases and servercore's netapi32.dll. Foreign layers are read through oci/foreign.py.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import cache_root
from ..compat import build_number
from ..errors import InputError
from ..registry import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_MANIFEST,
    Reference,
    RegistryClient,
    RegistryError,
    image_config,
    image_index,
    image_manifest,
)
from .blob import Blob, ChunkReader, ForeignBlob, RemoteBlob
from .foreign import CACHE_FOLDER as FOREIGN_CACHE
from .foreign import ForeignLayers, is_foreign
from .layer import RAWSD


@dataclass
class Image:
    """A resolved single-platform image: its manifest and config, and the client that read it."""

    reference: Reference
    manifest: dict
    manifest_media_type: str
    manifest_digest: str
    config: dict
    config_bytes: bytes
    client: RegistryClient | None = field(default=None, compare=False, repr=False)

    @property
    def os_version(self) -> str | None:
        return self.config.get("os.version")

    @property
    def layers(self) -> list[dict]:
        return self.manifest.get("layers", [])

    def layer_blobs(self) -> list[Blob]:
        """Its layers as blobs: in its repository (read through its client), or foreign (at their urls)."""
        return [ForeignBlob(layer["digest"], layer["size"], layer["mediaType"], tuple(layer["urls"]))
                if layer.get("urls") else
                RemoteBlob(layer["digest"], layer["size"], layer["mediaType"], self.reference, self.client)
                for layer in self.layers]


def resolve(client: RegistryClient, reference: Reference, os_name: str = "windows", architecture: str = "amd64",
            build: int | None = None) -> Image:
    """The image for one platform; from an index, the entry whose ``os.version`` has ``build`` (if given)."""
    body, media_type, digest = client.get_manifest(reference)
    source = reference
    if media_type in INDEX_TYPES:
        index = image_index(body, f"{reference}: the index")
        candidates = [m for m in index.get("manifests", [])
                      if m.get("platform", {}).get("os") == os_name
                      and m.get("platform", {}).get("architecture") == architecture]
        if build is not None:
            matching = [m for m in candidates if build_number(m.get("platform", {}).get("os.version")) == build]
            candidates = matching or [m for m in candidates if "os.version" not in m.get("platform", {})]
        if not candidates:
            raise RegistryError(f"{reference}: no {os_name}/{architecture}"
                                f"{f' 10.0.{build}' if build else ''} entry in its index")
        source = Reference(reference.registry, reference.repository, reference.tag, candidates[0]["digest"])
        body, media_type, digest = client.get_manifest(source)
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise RegistryError(f"{reference}: unsupported manifest type {media_type}")
    manifest = image_manifest(body, f"{source}: the manifest")
    config_digest = manifest["config"]["digest"]
    config_bytes = client.get_blob(reference.registry, reference.repository, config_digest)
    config = image_config(config_bytes, f"{source}: the config {config_digest[:19]}")
    return Image(reference, manifest, media_type, digest, config, config_bytes, client)


def check_same_build(target_id: str, what: str, image: Image, build: int) -> None:
    """A Windows file or base of another build is never used (its DLLs would not match the kernel)."""
    found = build_number(image.os_version)
    if found != build:
        raise InputError(f"{target_id}: {what} {image.reference} has os.version {image.os_version or 'unset'}, "
                         f"not 10.0.{build}; point the matrix or --mirror at images of the same build")


@dataclass
class Extracted:
    files: dict[str, bytes]  # result key -> content
    windows_pax: dict[str, dict[str, str]]  # lowercased layer path (the files, their folders) -> MSWINDOWS.* PAX


def _windows_pax(member: tarfile.TarInfo) -> dict[str, str]:
    return {k: v for k, v in member.pax_headers.items() if k.startswith("MSWINDOWS.")}


def _layer_path(name: str) -> str:
    return name.lstrip("./").lower()


class _Search:
    """What extract_files looks for, across layers (newest first), and what it has found.

    Hard links. hcsshim's exporter writes the first name of a file in a layer as a regular entry and each
    later name as a link entry built by go-winio's ``backuptar.BasicInfoHeader``: ``MSWINDOWS.fileattr``
    and times, no ``MSWINDOWS.rawsd`` (hcsshim pkg/ociwclayer/export.go, ``writeTarFromLayer``). Its importer
    makes the link another name of the target file (internal/wclayer/legacy.go, ``legacyLayerWriter.AddLink``),
    so content, descriptor and attributes are the target's, and are taken from the target's entry. AddLink
    takes a target added earlier in the same layer, else looks for it in the parent layers: so does this.
    """

    def __init__(self, wanted: dict[str, str]):
        self.lowered = {path.lower(): key for path, key in wanted.items()}
        self.folders = {"/".join(path.split("/")[:i]) for path in self.lowered for i in range(1, path.count("/") + 1)}
        self.result = Extracted({}, {})
        self.claimed: set[str] = set()  # wanted paths met, as a file or as a link still to follow
        self.link_records: dict[str, dict[str, str]] = {}  # wanted path -> the records of its link entry
        self.older: dict[str, list[str]] = {}  # link target -> wanted paths: the target is in an older layer
        self.earlier: dict[str, list[str]] = {}  # ... the target came earlier in this layer: read it again
        self.following: dict[str, list[str]] = {}  # the targets this pass of a layer resolves
        self.order: dict[str, int] = {}  # this layer's file and link entries -> position in the layer
        self.position = 0

    def files_found(self) -> bool:
        return len(self.claimed) == len(self.lowered) and not self.older and not self.earlier

    def folders_found(self) -> bool:
        return self.folders <= self.result.windows_pax.keys()

    def start_layer(self) -> None:
        self.following, self.older, self.order = self.older, {}, {}
        self.position = 0

    def start_pass(self) -> None:
        """Another read of the same layer, for links to a file that came before them in it."""
        self.end_pass()
        self.following, self.earlier = self.earlier, {}
        self.position = 0

    def end_pass(self) -> None:
        for target, paths in self.following.items():  # not in this layer: look further down
            self.older.setdefault(target, []).extend(paths)
        self.following = {}

    def _link(self, paths: list[str], target: str) -> None:
        into = self.earlier if self.order.get(target, self.position) < self.position else self.older
        into.setdefault(target, []).extend(paths)

    def visit(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        self.position += 1
        name = _layer_path(member.name)
        if member.isfile() or member.islnk():
            self.order.setdefault(name, self.position)
        if name in self.folders and name not in self.result.windows_pax and member.isdir():
            records = _windows_pax(member)
            if RAWSD in records:  # the newest entry that gives the folder a descriptor
                self.result.windows_pax[name] = records
        if name in self.lowered and name not in self.claimed:
            if member.isfile():
                self.claimed.add(name)
                self.result.files[self.lowered[name]] = tar.extractfile(member).read()
                self.result.windows_pax[name] = _windows_pax(member)
            elif member.islnk():
                self.claimed.add(name)
                self.link_records[name] = _windows_pax(member)
                self._link([name], _layer_path(member.linkname))
        if name in self.following and (member.isfile() or member.islnk()):
            paths = self.following.pop(name)
            if member.islnk():  # a link to a link: follow it on
                self._link(paths, _layer_path(member.linkname))
                return
            content, records = tar.extractfile(member).read(), _windows_pax(member)
            for path in paths:
                self.result.files[self.lowered[path]] = content
                # The link entry has basic info only; the target's records are the file's.
                self.result.windows_pax[path] = {**self.link_records[path], **records}


def extract_files(client: RegistryClient, image: Image, wanted: dict[str, str], folders: bool = False,
                  foreign: ForeignLayers | None = None) -> Extracted:
    """Find files in an image's layers, newest layer first, streaming (no layer is stored whole).

    ``wanted`` maps a Windows layer path (``Files/Windows/System32/netapi32.dll``, compared without
    case) to a key of the result. Hard links are followed to their target, in the same layer or an
    older one (``_Search``), and the file's records are its target's. The Windows PAX records of the
    files are kept, and of their folders the newest entry's that carries a security descriptor
    (``MSWINDOWS.rawsd``), so that a layer re-adding them keeps their descriptors. With ``folders``,
    older layers are read until every folder has one: an update layer may hold a file without its
    folders. Every layer read is read to its end, so that its digest is checked before anything from
    it is trusted.

    A foreign layer (MCR's base layers until June 2023) is read through ``foreign`` (oci/foreign.py:
    the image's repository, then its urls, mirrors applied; digest checked; cached), by default with no
    mirror and the cache under ``cache_root()``.
    """
    search = _Search(wanted)
    for layer in reversed(image.layers):
        if is_foreign(layer):
            if foreign is None:
                foreign = ForeignLayers(client, cache_root() / FOREIGN_CACHE)
            local = foreign.path(image.reference.registry, image.reference.repository, layer)
            def read(local=local):
                return _file_chunks(local)
        else:
            def read(digest=layer["digest"]):
                return client.stream_blob(image.reference.registry, image.reference.repository, digest)
        search.start_layer()
        _scan_layer(read, search.visit)
        while search.earlier:  # links to a file that came earlier in the same layer: read the layer again
            search.start_pass()
            _scan_layer(read, search.visit)
        search.end_pass()
        if search.files_found() and (not folders or search.folders_found()):
            break
    return search.result


def _file_chunks(path: Path) -> Iterator[bytes]:
    """A cached layer's bytes (its digest was checked before it was written there)."""
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def _scan_layer(read: Callable[[], Iterator[bytes]], visit) -> None:
    chunks = read()
    try:
        stream = io.BufferedReader(ChunkReader(chunks), buffer_size=1 << 20)
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                visit(member, tar)
                tar.members = []  # stream mode keeps every header otherwise: a servercore layer has many
        for _ in chunks:  # read to the end: stream_blob checks the digest when the bytes run out
            pass
    finally:
        chunks.close()
