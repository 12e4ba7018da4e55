"""Daemonless assembly of Windows images: base manifest and config, plus Windows-format layers.

A Windows layer's tar holds ``Hives/`` and the filesystem under ``Files/`` (``Files/app/x.exe``
lands at ``C:\\app\\x.exe``); every entry carries the PAX record ``MSWINDOWS.rawsd``, a security
descriptor whose owner and group are BUILTIN\\Users, so that the container's non-admin user can
read the files (docs/windows.md, "Building Windows images without a Windows
engine"); files and folders copied from a Windows image keep the image's descriptors. Layers are
deterministic (sorted entries, fixed times, owner 0, gzip without a timestamp), so the app layer is
the same blob for every base: built once, uploaded once.

The image config copies ``os``, ``architecture`` and ``os.version`` from the base; ``PATH`` is
set with ``Env`` (nothing can RUN here), ``Entrypoint`` is ``["argoexec"]``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import io
import json
import os
import struct
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .compat import build_number
from .errors import InputError
from .foreign import CACHE_FOLDER as FOREIGN_CACHE
from .foreign import ForeignLayers, is_foreign
from .pgzip import ParallelGzipWriter
from .registry import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Reference,
    RegistryClient,
    RegistryError,
    image_config,
    image_index,
    image_manifest,
    sha256_digest,
)
from .render import WINDOWS_PATH
from .source import cache_dir


def _users_security_descriptor() -> str:
    """Self-relative SECURITY_DESCRIPTOR, owner and group S-1-5-32-545 (BUILTIN\\Users), no ACLs."""
    users_sid = struct.pack("<BB", 1, 2) + bytes([0, 0, 0, 0, 0, 5]) + struct.pack("<II", 32, 545)
    header = struct.pack("<BBHIIII", 1, 0, 0x8000, 20, 20 + len(users_sid), 0, 0)  # SE_SELF_RELATIVE
    return base64.b64encode(header + users_sid + users_sid).decode()


WINDOWS_RAWSD = _users_security_descriptor()
RAWSD = "MSWINDOWS.rawsd"
LAYER_EPOCH = 0  # fixed entry times: the same inputs give the same layer digest


@dataclass(frozen=True)
class Blob:
    """A blob to publish: where its bytes are (a local file, bytes, or a repository that has it)."""

    digest: str
    size: int
    media_type: str
    path: Path | None = None
    data: bytes | None = None
    source: Reference | None = None  # a repository holding it, for mount or copy
    urls: tuple[str, ...] = ()  # foreign layers: not ours to push

    def open(self):
        if self.path is not None:
            return open(self.path, "rb")
        if self.data is not None:
            return self.data
        raise RegistryError(f"blob {self.digest} has no local bytes")

    def descriptor(self) -> dict:
        entry = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            entry["urls"] = list(self.urls)
        return entry


@dataclass(frozen=True)
class Layer:
    blob: Blob
    diff_id: str


class _HashingWriter(io.RawIOBase):
    def __init__(self, target):
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)


LAYER_FORMAT = "windows-layer-v2"  # bump when the bytes a layer is made of change


def _inputs_key(files: dict[str, Path | bytes], windows_pax: dict[str, dict[str, str]]) -> str:
    """A key of a layer's inputs: hashing them costs a fraction of compressing them again."""
    key = hashlib.sha256(LAYER_FORMAT.encode())
    key.update(json.dumps(windows_pax, sort_keys=True).encode())
    for name in sorted(files):
        key.update(name.encode() + b"\0")
        content = files[name]
        if isinstance(content, bytes):
            key.update(hashlib.sha256(content).digest())
        else:
            file_hash = hashlib.sha256()
            with open(content, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    file_hash.update(chunk)
            key.update(file_hash.digest())
    return key.hexdigest()


def windows_layer(files: dict[str, Path | bytes], directory: Path, media_type: str = OCI_LAYER_GZIP,
                  windows_pax: dict[str, dict[str, str]] | None = None, workers: int | None = None) -> Layer:
    """A gzipped Windows layer holding ``files`` (``{"app/argoexec.exe": path}`` -> ``C:\\app\\argoexec.exe``).

    ``windows_pax`` holds Windows PAX records by lowercased layer path (``files/windows``): the files
    and folders named there keep them, and must have a descriptor among them; the others get BUILTIN\\Users.

    Layers are kept in ``directory`` by the hash of their inputs: the same files give the same
    layer without compressing them again. gzip runs on ``workers`` threads (default: every core);
    the bytes do not depend on how many (builder/pgzip.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    windows_pax = windows_pax or {}
    index = directory / f"{_inputs_key(files, windows_pax)}.json"
    if index.is_file():
        known = json.loads(index.read_text())
        path = directory / known["file"]
        if path.is_file() and path.stat().st_size == known["size"]:
            return Layer(Blob(known["digest"], known["size"], media_type, path=path), known["diff_id"])
    fd, temporary = tempfile.mkstemp(dir=directory, suffix=".tar.gz")
    with os.fdopen(fd, "wb") as out:
        compressed = _HashingWriter(out)
        with ParallelGzipWriter(compressed, compresslevel=6, workers=workers) as gz:
            uncompressed = _HashingWriter(gz)
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                folders = {"Hives", "Files"}
                for name in files:
                    parts = PurePosixPath("Files", name).parts
                    folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
                for folder in sorted(folders):
                    tar.addfile(_entry(folder, tarfile.DIRTYPE, 0, windows_pax.get(folder.lower())))
                for name in sorted(files):
                    content = files[name]
                    pax = windows_pax.get(f"files/{name}".lower())
                    if isinstance(content, bytes):
                        tar.addfile(_entry(f"Files/{name}", tarfile.REGTYPE, len(content), pax), io.BytesIO(content))
                    else:
                        with open(content, "rb") as handle:
                            size = os.fstat(handle.fileno()).st_size
                            tar.addfile(_entry(f"Files/{name}", tarfile.REGTYPE, size, pax), handle)
    digest = "sha256:" + compressed.hash.hexdigest()
    final = directory / f"{digest[7:]}.tar.gz"
    os.replace(temporary, final)
    blob = Blob(digest, compressed.size, media_type, path=final)
    layer = Layer(blob, "sha256:" + uncompressed.hash.hexdigest())
    index.write_text(json.dumps({"file": final.name, "digest": digest, "size": blob.size, "diff_id": layer.diff_id}))
    return layer


def _entry(name: str, kind: bytes, size: int, windows_pax: dict[str, str] | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = LAYER_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    # Files we add get BUILTIN\\Users ownership; files and folders taken from a Windows image keep theirs.
    # hcsshim applies an entry's descriptor to the file or folder (go-winio backuptar
    # WriteBackupStreamFromTarFile turns MSWINDOWS.rawsd into the backup stream's security data), so records
    # taken from an image but lacking one must not get ours in their place.
    if windows_pax is None:
        info.pax_headers = {RAWSD: WINDOWS_RAWSD}
    elif RAWSD not in windows_pax:
        raise ValueError(f"{name}: its Windows records carry no {RAWSD}; a layer would replace its descriptor")
    else:
        info.pax_headers = dict(windows_pax)
    return info


# ---------------------------------------------------------------------------------------------
# Reading images from a registry


@dataclass
class Image:
    """A resolved single-platform image: its manifest and config."""

    reference: Reference
    manifest: dict
    manifest_media_type: str
    manifest_digest: str
    config: dict
    config_bytes: bytes

    @property
    def os_version(self) -> str | None:
        return self.config.get("os.version")

    @property
    def layers(self) -> list[dict]:
        return self.manifest.get("layers", [])


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
    return Image(reference, manifest, media_type, digest, config, config_bytes)



class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


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

    A foreign layer (MCR's base layers until June 2023) is read through ``foreign`` (builder/foreign.py:
    the image's repository, then its urls, mirrors applied; digest checked; cached), by default with no
    mirror and the cache under ``cache_dir()``.
    """
    search = _Search(wanted)
    for layer in reversed(image.layers):
        if is_foreign(layer):
            if foreign is None:
                foreign = ForeignLayers(client, cache_dir() / FOREIGN_CACHE)
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
        stream = io.BufferedReader(_ChunkReader(chunks), buffer_size=1 << 20)
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                visit(member, tar)
                tar.members = []  # stream mode keeps every header otherwise: a servercore layer has many
        for _ in chunks:  # read to the end: stream_blob checks the digest when the bytes run out
            pass
    finally:
        chunks.close()


# ---------------------------------------------------------------------------------------------
# The assembled image


@dataclass
class Assembled:
    target_id: str
    manifest: bytes
    media_type: str
    digest: str
    config: Blob
    layers: list[Blob] = field(default_factory=list)

    @property
    def blobs(self) -> list[Blob]:
        return [*self.layers, self.config]


def created_time(base: Image) -> str:
    """The image's creation time: SOURCE_DATE_EPOCH when set, else the base's own (so re-runs match)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return base.config.get("created") or "1970-01-01T00:00:00Z"


def assemble(target_id: str, base: Image, extra: list[tuple[Layer, str]], labels: dict[str, str],
             created: str, annotations: dict[str, str] | None = None) -> Assembled:
    """The base's layers plus ``extra`` layers (each with its history note), and the new config.

    ``annotations`` go on the manifest when it is an OCI one (a Docker image manifest has no such field)."""
    docker_types = base.manifest_media_type == DOCKER_MANIFEST
    config = copy.deepcopy(base.config)
    container = config.setdefault("config", {}) or {}
    config["config"] = container
    env = [e for e in (container.get("Env") or []) if not e.upper().startswith("PATH=")]
    container["Env"] = [*env, f"PATH={WINDOWS_PATH}"]
    container["Entrypoint"] = ["argoexec"]
    container["Cmd"] = None
    container["User"] = "ContainerAdministrator"
    container["Labels"] = {**(container.get("Labels") or {}), **labels}
    config["created"] = created
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    history = config.setdefault("history", [])
    layers = [_base_blob(base, layer) for layer in base.layers]
    for layer, note in extra:
        rootfs["diff_ids"].append(layer.diff_id)
        history.append({"created": created, "created_by": note})
        media_type = DOCKER_LAYER_GZIP if docker_types else OCI_LAYER_GZIP
        layers.append(Blob(layer.blob.digest, layer.blob.size, media_type, path=layer.blob.path))
    config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_blob = Blob(sha256_digest(config_bytes), len(config_bytes), DOCKER_CONFIG if docker_types else OCI_CONFIG,
                       data=config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker_types else OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [blob.descriptor() for blob in layers],
    }
    if annotations and not docker_types:
        manifest["annotations"] = dict(sorted(annotations.items()))
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    return Assembled(target_id, manifest_bytes, manifest["mediaType"], sha256_digest(manifest_bytes), config_blob,
                     layers)


def _base_blob(base: Image, layer: dict) -> Blob:
    return Blob(layer["digest"], layer["size"], layer["mediaType"], source=base.reference,
                urls=tuple(layer.get("urls") or ()))


def check_same_build(target_id: str, what: str, image: Image, build: int) -> None:
    """A Windows file or base of another build is never used (its DLLs would not match the kernel)."""
    found = build_number(image.os_version)
    if found != build:
        raise InputError(f"{target_id}: {what} {image.reference} has os.version {image.os_version or 'unset'}, "
                         f"not 10.0.{build}; point the matrix or --mirror at images of the same build")
