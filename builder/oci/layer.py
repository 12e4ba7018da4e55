"""The Windows layer: its tar, gzipped on every core, and its cache.

A Windows layer's tar holds ``Hives/`` and the filesystem under ``Files/`` (``Files/app/x.exe``
lands at ``C:\\app\\x.exe``); every entry carries the PAX record ``MSWINDOWS.rawsd``, a security
descriptor whose owner and group are BUILTIN\\Users, so that the container's non-admin user can
read the files (docs/windows.md, "Building Windows images without a Windows
engine"); files and folders copied from a Windows image keep the image's descriptors. Layers are
deterministic (sorted entries, fixed times, owner 0, gzip without a timestamp), so the app layer is
the same blob for every base: built once, uploaded once.

The cache: a layer is kept in its folder as ``<digest hex>.tar.gz``, with an index ``<inputs key>.json``
naming it, both written through files.atomic_output. An index that cannot be read, or names a file
that is not there whole, is a miss: the layer is made again.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import struct
import tarfile
from pathlib import Path, PurePosixPath

from ..files import atomic_output, read_cached_json, write_atomically
from ..pgzip import ParallelGzipWriter
from ..registry import OCI_LAYER_GZIP
from .blob import FileBlob, Layer


def _users_security_descriptor() -> str:
    """Self-relative SECURITY_DESCRIPTOR, owner and group S-1-5-32-545 (BUILTIN\\Users), no ACLs."""
    users_sid = struct.pack("<BB", 1, 2) + bytes([0, 0, 0, 0, 0, 5]) + struct.pack("<II", 32, 545)
    header = struct.pack("<BBHIIII", 1, 0, 0x8000, 20, 20 + len(users_sid), 0, 0)  # SE_SELF_RELATIVE
    return base64.b64encode(header + users_sid + users_sid).decode()


WINDOWS_RAWSD = _users_security_descriptor()
RAWSD = "MSWINDOWS.rawsd"
LAYER_EPOCH = 0  # fixed entry times: the same inputs give the same layer digest


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
    cached = _cached(index, media_type)
    if cached is not None:
        return cached
    with atomic_output(directory / "layer.tar.gz") as out:
        compressed = _HashingWriter(out)
        with ParallelGzipWriter(compressed, compresslevel=6, workers=workers) as gz:
            uncompressed = _HashingWriter(gz)
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _write_entries(tar, files, windows_pax)
        digest = "sha256:" + compressed.hash.hexdigest()
        out.path = directory / f"{digest[7:]}.tar.gz"  # named by its digest once it is known
    layer = Layer(FileBlob(digest, compressed.size, media_type, out.path), "sha256:" + uncompressed.hash.hexdigest())
    write_atomically(index, json.dumps({"file": out.path.name, "digest": digest, "size": layer.blob.size,
                                        "diff_id": layer.diff_id}))
    return layer


INDEX_LIMIT = 1 << 16  # an index is a line of JSON: anything larger is no index of ours
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z", re.ASCII)


def _cached(index: Path, media_type: str) -> Layer | None:
    """The layer an index names, if the index reads as one and its file is there whole; else None (a miss)."""
    known = read_cached_json(index, INDEX_LIMIT)  # None: none yet, or half a file of an older version
    if not isinstance(known, dict):
        return None
    digest, size, diff_id = known.get("digest"), known.get("size"), known.get("diff_id")
    if not (isinstance(digest, str) and _DIGEST_RE.match(digest) and isinstance(diff_id, str)
            and _DIGEST_RE.match(diff_id) and type(size) is int and known.get("file") == f"{digest[7:]}.tar.gz"):
        return None
    path = index.parent / known["file"]
    try:
        if not path.is_file() or path.stat().st_size != size:
            return None
    except OSError:
        return None
    return Layer(FileBlob(digest, size, media_type, path), diff_id)


def _write_entries(tar: tarfile.TarFile, files: dict[str, Path | bytes],
                   windows_pax: dict[str, dict[str, str]]) -> None:
    """The folders (``Hives``, ``Files`` and each file's), then the files, in name order."""
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
