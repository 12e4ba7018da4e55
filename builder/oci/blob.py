"""Blobs and layers: a descriptor (digest, size, media type) and ``open()`` for the bytes.

Where the bytes are decides the kind, and the kind decides what a write does with it (oci/write.py):

- ``FileBlob``: a local file (a Windows layer this run made or found in its cache);
- ``BytesBlob``: bytes in memory (an image config);
- ``RemoteBlob``: a repository that holds it (a base layer): mounted within a registry, else copied;
  ``open()`` streams it through the registry client, checked against its digest and size;
- ``ForeignBlob``: a foreign layer, served at the ``urls`` of its descriptor: never pushed or copied
  (oci/foreign.py reads one when its files are needed).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..registry import Reference, RegistryClient, RegistryError


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str

    def open(self) -> IO[bytes]:
        """The blob's bytes, as a binary file object to read to its end and close."""
        raise NotImplementedError

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    def retyped(self, media_type: str) -> Blob:
        """The same bytes under another media type (a layer of a Docker-typed image)."""
        return dataclasses.replace(self, media_type=media_type)


@dataclass(frozen=True)
class FileBlob(Blob):
    path: Path

    def open(self) -> IO[bytes]:
        return open(self.path, "rb")


@dataclass(frozen=True)
class BytesBlob(Blob):
    data: bytes

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.data)


@dataclass(frozen=True)
class RemoteBlob(Blob):
    source: Reference  # the repository that holds it
    client: RegistryClient | None = field(default=None, compare=False, repr=False)  # what reads it from there

    def open(self) -> IO[bytes]:
        """The bytes as they arrive from ``source``; reading to the end checks the digest (DigestMismatch)."""
        if self.client is None:
            raise RegistryError(f"blob {self.digest} of {self.source}: no registry client to read it with")
        chunks = self.client.stream_blob(self.source.registry, self.source.repository, self.digest, size=self.size)
        return io.BufferedReader(ChunkReader(chunks), buffer_size=1 << 20)


@dataclass(frozen=True)
class ForeignBlob(Blob):
    urls: tuple[str, ...]

    def open(self) -> IO[bytes]:
        raise RegistryError(f"foreign layer {self.digest}: its bytes are served at its urls, never pushed or copied")

    def descriptor(self) -> dict:
        return {**super().descriptor(), "urls": list(self.urls)}


@dataclass(frozen=True)
class Layer:
    blob: FileBlob
    diff_id: str


class ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (for tarfile's stream mode, or a copy); closing it closes
    the iterator."""

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

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
        super().close()
