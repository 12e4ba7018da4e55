"""The OCI distribution API on top of the transport: manifests, blobs, mounts, uploads.

- Manifests of every kind (OCI and Docker image manifests, OCI indexes, Docker manifest lists):
  GET, HEAD, PUT (with the answer's headers when the caller needs them: ``OCI-Subject``).
- Referrers (distribution spec 1.1, "Listing Referrers"): the index of the manifests whose
  ``subject`` is a digest, every page of it, or None from a registry without the API (404).
- Blobs: HEAD; streamed GET, resumed where a connection broke off (transport.Transport.read),
  with the digest checked over every byte delivered; upload as POST then a monolithic PUT
  (streamed from a file or bytes; the registry checks the digest and so do we: its
  ``Docker-Content-Digest`` must match); and cross-repository mount.

Each request runs under the transport's one retry policy. An upload is retried whole: a PUT
that failed leaves its upload session in an unknown state, so the next attempt starts a new one
with a POST (the spec: a client MUST restart the upload process when the session is unknown).
Credentials and tokens never appear in messages: errors name the registry and the operation.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

import requests

from ..errors import DigestMismatch, ManifestUnknown, RegistryError
from ..reference import DIGEST_RE, Reference, sha256_digest
from .credentials import Credentials
from .documents import image_index, parse_json
from .transport import READ_CHUNK, Stats, Transport, TryAgain

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT_ALL = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
# A referrers list longer than this many pages is no registry's honest answer.
MAX_REFERRER_PAGES = 100
# A blob read into memory without its descriptor's size (image configs): no config comes near this.
MAX_IN_MEMORY = 16 << 20
_LINK_NEXT_RE = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?')


class RegistryClient:
    """One client for any number of registries (see transport.Transport for auth and retries)."""

    def __init__(self, insecure: tuple[str, ...] = (),
                 credentials: Callable[[str], Credentials | None] | None = None, attempts: int = 5,
                 backoff_s: float = 0.2, timeout_s: float = 60, session: requests.Session | None = None):
        self.transport = Transport(insecure, credentials, attempts, backoff_s, timeout_s, session)

    @property
    def stats(self) -> Stats:
        return self.transport.stats

    @property
    def attempts(self) -> int:
        return self.transport.policy.attempts

    def base_url(self, registry: str) -> str:
        return self.transport.base_url(registry)

    # -- manifests -----------------------------------------------------------------------------

    def _manifest_request(self, method: str, ref: Reference, **options) -> requests.Response:
        return self.transport.request(method, ref.registry, f"/v2/{ref.repository}/manifests/{ref.ref}",
                                      ref.repository, **options)

    def get_manifest(self, ref: Reference, accept: str = ACCEPT_ALL) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest, the digest verified: against the reference's
        when asked by digest, and against the registry's ``Docker-Content-Digest`` when it sends one.

        The OCI distribution spec ("Pulling manifests"): the header, if present, is the manifest's
        digest; a client that uses it MUST verify it matches the manifest returned. Asked by tag,
        the header is all there is to check against: without it, bytes changed on the way would
        give a digest (and a base digest label) the registry does not have. The digest returned
        is the sha256 of the bytes returned: the one verified whenever there was something to verify."""
        found = self.find_manifest(ref, accept)
        if found is None:
            raise ManifestUnknown(f"{ref}: no such manifest in registry {ref.registry}")
        return found

    def find_manifest(self, ref: Reference, accept: str = ACCEPT_ALL) -> tuple[bytes, str, str] | None:
        """``get_manifest``, or None when the registry has no such manifest (404)."""
        response = self._manifest_request("GET", ref, headers={"Accept": accept}, what=f"get manifest {ref}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(f"{ref}: registry answered {response.status_code} to a manifest request")
        body = response.content
        digest = sha256_digest(body)
        if ref.digest and ref.digest != digest:
            raise DigestMismatch(f"{ref}: the registry sent a manifest whose digest is {digest}")
        answered = response.headers.get("Docker-Content-Digest", "").strip()
        if _well_formed(answered) and not _digest_matches(answered, body):
            raise DigestMismatch(f"{ref}: the registry sent a manifest whose digest is {digest}, not the "
                                 f"{answered} it names in Docker-Content-Digest")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in (*INDEX_TYPES, *MANIFEST_TYPES):
            found = parse_json(body, f"{ref}: the manifest").get("mediaType", media_type)
            media_type = found if isinstance(found, str) else media_type
        return body, media_type, digest

    def head_manifest(self, ref: Reference, accept: str = ACCEPT_ALL) -> str | None:
        response = self._manifest_request("HEAD", ref, headers={"Accept": accept}, what=f"check manifest {ref}")
        response.close()
        if response.status_code != 200:
            return None
        # Docker-Content-Digest is a SHOULD of the spec: without it, the digest of the manifest's bytes. A
        # header that is no sha256 digest (the OCI grammar; the one algorithm the tool handles) counts as none:
        # what this returns goes into tags, Helm values and tables as it is.
        answered = response.headers.get("Docker-Content-Digest", "").strip()
        return answered if DIGEST_RE.match(answered) else self.get_manifest(ref, accept)[2]

    def put_manifest(self, ref: Reference, body: bytes, media_type: str) -> str:
        return self.put_manifest_answer(ref, body, media_type)[0]

    def put_manifest_answer(self, ref: Reference, body: bytes, media_type: str) -> tuple[str, Mapping[str, str]]:
        """``put_manifest``, and the headers the registry answered with (``OCI-Subject``, ``Location``...)."""
        response = self._manifest_request("PUT", ref, scope_actions="pull,push", headers={"Content-Type": media_type},
                                          data=body, ok=(201, 200), what=f"put manifest {ref}")
        if response.status_code not in (200, 201):
            raise RegistryError(f"{ref}: registry refused the manifest ({response.status_code}: "
                                f"{_error_text(response)})")
        digest = sha256_digest(body)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise DigestMismatch(f"{ref}: registry stored the manifest as {answered}, expected {digest}")
        return digest, response.headers

    # -- referrers -----------------------------------------------------------------------------

    def get_referrers(self, registry: str, repository: str, digest: str,
                      artifact_type: str | None = None) -> dict | None:
        """The referrers of manifest ``digest``: an image index of descriptors (every page, following
        ``Link: <...>; rel="next"``), or None when the registry has no referrers API (404).

        The OCI distribution spec 1.1, "Listing Referrers": a registry with the API answers 200 and
        never 404; a client that gets 404 MUST fall back to the referrers tag schema, which is the
        caller's business. ``artifact_type`` asks the registry to filter; it SHOULD, and may not:
        the caller filters again."""
        query = f"?artifactType={urllib.parse.quote(artifact_type, safe='')}" if artifact_type else ""
        path = f"/v2/{repository}/referrers/{digest}{query}"
        what = f"list referrers of {digest[:19]}"
        merged: dict | None = None
        for _ in range(MAX_REFERRER_PAGES):
            response = self.transport.request("GET", registry, path, repository, headers={"Accept": OCI_INDEX},
                                              what=what)
            if response.status_code == 404 and merged is None:
                response.close()
                return None
            if response.status_code != 200:
                response.close()
                raise RegistryError(f"{registry}/{repository}: registry answered {response.status_code} to {what}")
            page = image_index(response.content, f"{registry}/{repository}: the referrers of {digest}")
            if merged is None:
                merged = page
            else:
                merged["manifests"] = [*merged.get("manifests", []), *page.get("manifests", [])]
            following = _next_link(response.headers.get("Link", ""))
            if following is None:
                return merged
            path = self.transport.absolute(registry, following)
            if urllib.parse.urlparse(path).netloc != urllib.parse.urlparse(self.base_url(registry)).netloc:
                raise RegistryError(f"{registry}/{repository}: the referrers' next page is on another host")
        raise RegistryError(f"{registry}/{repository}: the referrers of {digest} go on past {MAX_REFERRER_PAGES} "
                            "pages")

    # -- blobs ---------------------------------------------------------------------------------

    def blob_exists(self, registry: str, repository: str, digest: str) -> bool:
        response = self.transport.request("HEAD", registry, f"/v2/{repository}/blobs/{digest}", repository,
                                          what=f"check blob {digest[:19]}")
        response.close()
        return response.status_code == 200

    def get_blob(self, registry: str, repository: str, digest: str, size: int | None = None) -> bytes:
        """A blob read into memory: at most ``size`` bytes (its descriptor's), else at most MAX_IN_MEMORY."""
        return b"".join(self.stream_blob(registry, repository, digest, size=MAX_IN_MEMORY if size is None else size))

    def stream_blob(self, registry: str, repository: str, digest: str,
                    chunk_size: int = READ_CHUNK, size: int | None = None) -> Iterator[bytes]:
        """The blob's bytes as they arrive; the digest is checked at the end (DigestMismatch if wrong).

        A read cut off midway is resumed by the transport; the digest covers exactly the bytes
        yielded here, whichever answers they came from. With ``size``, a longer blob is refused as it
        passes that size, and the read has a deadline (transport.Transport.read)."""
        chunks = self.transport.read(registry, f"/v2/{repository}/blobs/{digest}", repository,
                                     what=f"get blob {digest[:19]}", chunk_size=chunk_size, size=size)
        hasher = hashlib.sha256()
        try:
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk
        finally:
            chunks.close()
        if "sha256:" + hasher.hexdigest() != digest:
            raise DigestMismatch(f"{registry}/{repository}: blob {digest} arrived with another digest")

    def download_blob(self, registry: str, repository: str, digest: str, path: Path, size: int | None = None) -> None:
        """Write a blob to ``path`` (digest checked before this returns; at most ``size`` bytes if given)."""
        with open(path, "wb") as out:
            for chunk in self.stream_blob(registry, repository, digest, size=size):
                out.write(chunk)

    def mount_blob(self, registry: str, repository: str, digest: str, from_repository: str) -> bool:
        response = self.transport.request("POST", registry, f"/v2/{repository}/blobs/uploads/?mount={digest}"
                                          f"&from={urllib.parse.quote(from_repository)}", repository,
                                          scope_actions="pull,push",
                                          extra_scopes=(f"repository:{from_repository}:pull",),
                                          ok=(201, 202), what=f"mount blob {digest[:19]}", denied_is_answer=True)
        if response.status_code in (401, 403):
            response.close()
            return False  # no pull right on the source: upload instead
        mounted = response.status_code == 201
        location = response.headers.get("Location")
        response.close()
        if response.status_code == 202 and location:
            # The registry opened an upload instead; cancel it, the caller uploads.
            self.transport.request("DELETE", registry, self.transport.absolute(registry, location), repository,
                                   scope_actions="pull,push", ok=(204, 200, 404), what="cancel upload").close()
        if mounted:
            self.stats.mounts += 1
        return mounted

    def upload_blob(self, registry: str, repository: str, digest: str, size: int,
                    opener: Callable[[], IO[bytes] | bytes]) -> None:
        """POST an upload, then PUT the whole blob; each attempt of the policy is a fresh upload."""
        self.transport.policy.run(lambda: self._upload_once(registry, repository, digest, size, opener))
        self.stats.uploaded_bytes += size
        self.stats.uploads[digest] = self.stats.uploads.get(digest, 0) + 1

    def _upload_once(self, registry: str, repository: str, digest: str, size: int,
                     opener: Callable[[], IO[bytes] | bytes]) -> None:
        start = self.transport.send("POST", registry, f"/v2/{repository}/blobs/uploads/", repository,
                                    scope_actions="pull,push", ok=(202,), what=f"start upload {digest[:19]}")
        start.close()
        if start.status_code != 202 or not start.headers.get("Location"):
            raise RegistryError(f"{registry}/{repository}: cannot start an upload ({start.status_code})")
        location = self.transport.absolute(registry, start.headers["Location"])
        separator = "&" if "?" in location else "?"
        response = self.transport.send(
            "PUT", registry, f"{location}{separator}digest={urllib.parse.quote(digest)}", repository,
            scope_actions="pull,push", headers={"Content-Type": "application/octet-stream",
                                                "Content-Length": str(size)},
            data=opener, ok=(201,), what=f"upload blob {digest[:19]}")
        response.close()
        status = response.status_code
        if status == 201:
            answered = response.headers.get("Docker-Content-Digest")
            if answered and answered != digest:
                raise DigestMismatch(f"{registry}/{repository}: stored {answered}, expected {digest}")
            return
        if status == 400 and "DIGEST_INVALID" in response.text:
            raise TryAgain(lambda n: DigestMismatch(f"{registry}/{repository}: the registry keeps computing another "
                                                    f"digest than {digest} ({n} attempts)"))
        raise TryAgain(lambda n: RegistryError(f"{registry}/{repository}: upload of {digest[:19]} answered {status} "
                                               f"({n} attempts)"))

    def push_blob(self, registry: str, repository: str, digest: str, size: int,
                  opener: Callable[[], IO[bytes] | bytes], mount_from: tuple[str, ...] = ()) -> str:
        """Each blob once: HEAD, then a mount from a repository that has it, then an upload."""
        if self.blob_exists(registry, repository, digest):
            self.stats.existing += 1
            return "exists"
        for source in mount_from:
            if source != repository and self.mount_blob(registry, repository, digest, source):
                return "mounted"
        self.upload_blob(registry, repository, digest, size, opener)
        return "uploaded"


# The algorithms of the OCI image spec's registered digests ("Digests"); a header naming another
# cannot be checked here, and counts as no header.
_DIGEST_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


# The OCI image spec's digest grammar ("Digests"), and the encoding of its registered algorithms: lowercase
# hex of 64 (sha256) or 128 (sha512) digits. A header outside it is no digest at all, and counts as none.
_DIGEST_GRAMMAR_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z", re.ASCII)
_ENCODED_RE = {"sha256": re.compile(r"^[a-f0-9]{64}\Z", re.ASCII), "sha512": re.compile(r"^[a-f0-9]{128}\Z", re.ASCII)}


def _well_formed(digest: str) -> bool:
    if not _DIGEST_GRAMMAR_RE.match(digest):
        return False
    algorithm, _, encoded = digest.partition(":")
    pattern = _ENCODED_RE.get(algorithm)
    return pattern is None or pattern.match(encoded) is not None


def _digest_matches(digest: str, body: bytes) -> bool:
    algorithm, _, encoded = digest.partition(":")
    hasher = _DIGEST_ALGORITHMS.get(algorithm)
    return hasher is None or hasher(body).hexdigest() == encoded


def _error_text(response: requests.Response) -> str:
    """The registry's error codes and messages (the spec's error body), else the HTTP reason."""
    try:
        answer = response.json()
    except (ValueError, RecursionError):
        answer = None
    errors = answer.get("errors") if isinstance(answer, dict) else None
    text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)) \
        if isinstance(errors, list) else ""
    return text or response.reason or str(response.status_code)


def _next_link(header: str) -> str | None:
    """The target of an RFC 5988 ``Link`` header's ``rel="next"``, if there is one."""
    match = _LINK_NEXT_RE.search(header)
    return match.group(1) if match else None
