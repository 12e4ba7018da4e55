"""Foreign layers: base layers a registry lists by digest but serves only at the ``urls`` of their descriptor.

Until June 2023 MCR served every Windows base layer that way: the manifest is a Docker schema 2
manifest, each layer has media type ``application/vnd.docker.image.rootfs.foreign.diff.tar.gzip``
and ``urls``, and a registry that mirrors the image usually holds no blob for it (distribution
accepts such a manifest without the blob: docs/windows.md, "Foreign layers"). The end-of-life bases
1903, 1909, 2004 and 20H2 keep them.

To read one (the oci builder reads netapi32.dll from servercore's layers), the sources are tried in
order, the first that serves the layer's digest wins:

1. the repository the image was read from (through a mirror, when ``--mirror`` or ``mirrors:`` maps
   the image's host, that is the mirror repository);
2. each of the layer's ``urls``, in order, each through a mirror when one maps the url's host (a
   registry-shaped url, ``/v2/<repository>/blobs/<digest>``, is rewritten like an image reference;
   another url only when its host is mirrored to a bare host).

Every read goes through the registry transport (its retry policy, timeouts and scheme rules:
plain http only for loopback or an insecure registry) and is checked against the layer's digest;
a source that serves other bytes is refused and the next is tried. A layer read once is kept in
the cache by digest (written whole, only once verified). The image written keeps the layer as it
was: foreign, with its urls (oci/assembly.py, oci/write.py).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DigestMismatch, RegistryDenied, RegistryError, Unreachable
from ..files import atomic_output
from ..registry import DOCKER_FOREIGN_LAYER, RegistryClient
from ..secrets import strip_userinfo

CACHE_FOLDER = "foreign-layers"
_BLOB_PATH_RE = re.compile(r"^/v2/(?P<repository>[a-z0-9._/-]+)/blobs/(?P<digest>sha256:[a-f0-9]{64})\Z", re.ASCII)


def is_foreign(layer: dict) -> bool:
    return layer.get("mediaType") == DOCKER_FOREIGN_LAYER and bool(layer.get("urls"))


def _identity(reference: str) -> str:
    return reference


@dataclass
class ForeignLayers:
    """Reads foreign layers into ``cache``; ``mirrored`` is the matrix's mirror rewrite (Matrix.mirrored)."""

    client: RegistryClient
    cache: Path
    mirrored: Callable[[str], str] = _identity
    log: Callable[[str], None] = field(default=lambda line: None)

    def sources(self, registry: str, repository: str, layer: dict) -> list[str]:
        """The urls to try for ``layer`` of an image read from ``registry/repository``, in order."""
        digest = layer["digest"]
        found = [f"{self.client.base_url(registry)}/v2/{repository}/blobs/{digest}"]
        for url in layer.get("urls") or ():
            mapped = self._through_mirror(url) if isinstance(url, str) else None
            if mapped and mapped not in found:
                found.append(mapped)
        return found

    def _through_mirror(self, url: str) -> str | None:
        """``url`` through a mirror of its host, with the transport's scheme; None if it is no http(s) url."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        host = parts.netloc.rpartition("@")[2]  # never userinfo
        blob = _BLOB_PATH_RE.match(parts.path)
        if blob:
            moved = self.mirrored(f"{host}/{blob['repository']}")
            registry, _, repository = moved.partition("/")
            return f"{self.client.base_url(registry)}/v2/{repository}/blobs/{blob['digest']}"
        moved = self.mirrored(host)
        if "/" in moved:  # a mirror into a repository prefix: only registry-shaped urls map there
            moved = host
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.client.base_url(moved)}{parts.path}{query}"

    def path(self, registry: str, repository: str, layer: dict) -> Path:
        """The layer's bytes on disk (gzipped tar), from the cache or the first source that serves its digest."""
        digest, size = layer["digest"], layer.get("size")
        cached = self.cache / f"{digest.replace(':', '-')}.tar.gz"
        if cached.is_file() and (not isinstance(size, int) or cached.stat().st_size == size):
            return cached
        self.cache.mkdir(parents=True, exist_ok=True)
        failures: list[tuple[str, Exception]] = []
        for url in self.sources(registry, repository, layer):
            try:
                self._download(url, digest, cached)
            except (RegistryError, RegistryDenied, Unreachable, DigestMismatch) as exc:
                failures.append((url, exc))
                continue
            self.log(f"foreign layer {digest[:19]} read from {strip_userinfo(url)}")
            return cached
        served_other = [url for url, exc in failures if isinstance(exc, DigestMismatch)]
        tried = "; ".join(f"{strip_userinfo(url)}: {_why(exc)}" for url, exc in failures)
        if served_other:
            raise DigestMismatch(f"foreign layer {digest}: {', '.join(map(strip_userinfo, served_other))} served "
                                 f"other bytes than its digest names (tried {tried}); refused")
        if failures and all(isinstance(exc, Unreachable) for _, exc in failures):
            raise Unreachable(f"foreign layer {digest}: no source could be reached ({tried}); map its host "
                              "with --mirror HOST=MIRROR/PATH (or `mirrors:` in matrix.yaml)")
        raise RegistryError(f"foreign layer {digest}: no source serves it ({tried}); copy it into the mirror "
                            "repository, or map the host of its urls with --mirror")

    def _download(self, url: str, digest: str, cached: Path) -> None:
        parts = urllib.parse.urlsplit(url)
        blob = _BLOB_PATH_RE.match(parts.path)
        repository = blob["repository"] if blob else ""
        chunks = self.client.transport.read(parts.netloc, url, repository, what=f"get foreign layer {digest[:19]}")
        hasher = hashlib.sha256()
        with atomic_output(cached) as out:  # kept only when whole and of the right digest
            try:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
            finally:
                chunks.close()
            if "sha256:" + hasher.hexdigest() != digest:
                raise DigestMismatch(f"{strip_userinfo(url)} served sha256:{hasher.hexdigest()}")


def _why(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "..."
