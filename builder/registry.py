"""A client of the OCI distribution API (requests): manifests, blobs, mounts, tokens, retries.

- Manifests of every kind (OCI and Docker image manifests, OCI indexes, Docker manifest lists):
  GET, HEAD, PUT.
- Blobs: HEAD, streamed GET with the digest checked as the bytes arrive, upload as POST then a
  monolithic PUT (streamed from a file or bytes; the registry checks the digest and so do we:
  its ``Docker-Content-Digest`` must match), and cross-repository mount.
- Authentication: the token flow from ``WWW-Authenticate: Bearer`` (anonymous, or with
  credentials), and Basic; credentials from the Docker config (``auths``, ``credHelpers``,
  ``credsStore`` through ``docker-credential-*`` helpers).
- Retries with exponential backoff on 429, 5xx and dropped connections (``Retry-After`` is
  honoured). A registry that keeps failing is ``Unreachable`` (exit 4).
- TLS is verified; plain http only for loopback or a registry named insecure.

Credentials and tokens never appear in messages: errors name the registry and the operation.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from .errors import DigestMismatch, InputError, RegistryDenied, RegistryError, Unreachable
from .secrets import docker_config_path

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

RETRY_STATUSES = {429, 500, 502, 503, 504}
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
DOCKER_HUB = "registry-1.docker.io"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_registry_host(component: str) -> bool:
    """Whether the first component of a reference names a registry (a dot, a port, or localhost),
    as the Docker CLI decides it; otherwise the reference is on Docker Hub."""
    return "." in component or ":" in component or component == "localhost"


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``, with Docker Hub's defaults."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest, _, digest = text.partition("@")
        tag = None
        slash, colon = rest.rfind("/"), rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
        first, _, remainder = rest.partition("/")
        if remainder and is_registry_host(first):
            registry, repository = first, remainder
        else:
            registry, repository = DOCKER_HUB, rest if "/" in rest else f"library/{rest}"
        if registry == "docker.io":
            registry = DOCKER_HUB
        if digest and not DIGEST_RE.match(digest):
            raise InputError(f"{text}: malformed digest; expected sha256:<64 hex digits>")
        if not repository:
            raise InputError(f"{text}: no repository in the reference")
        return cls(registry, repository, tag, digest or None)

    @property
    def ref(self) -> str:
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_loopback(registry: str) -> bool:
    if registry.startswith("["):
        host = registry[1:].split("]", 1)[0]  # [::1]:5000
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(username={self.username!r}, password=***)"


def docker_credentials(registry: str, config_path: Path | None = None) -> Credentials | None:
    """Credentials for ``registry`` from the Docker config: inline ``auths`` or a credential helper."""
    path = config_path or docker_config_path()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = {registry, f"https://{registry}", f"http://{registry}"}
    if registry == DOCKER_HUB:
        keys |= {"https://index.docker.io/v1/", "index.docker.io", "docker.io"}
    helper = next((config.get("credHelpers", {}).get(k) for k in keys if k in config.get("credHelpers", {})), None)
    helper = helper or config.get("credsStore")
    for key in keys:
        entry = (config.get("auths") or {}).get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials(identity_token=entry["identitytoken"])
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode("utf-8", "replace").partition(":")
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password"))
    if helper:
        return _from_helper(helper, registry)
    return None


def _from_helper(helper: str, registry: str) -> Credentials | None:
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        return None
    result = subprocess.run([program, "get"], input=registry, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return None
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        return None
    if answer.get("Username") == "<token>":
        return Credentials(identity_token=answer.get("Secret"))
    return Credentials(answer.get("Username"), answer.get("Secret"))


_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Stats:
    """What a client did, for benchmarks and for tests that count uploads."""

    uploaded_bytes: int = 0
    uploads: dict[str, int] = field(default_factory=dict)  # digest -> times uploaded
    mounts: int = 0
    existing: int = 0
    retries: int = 0


class RegistryClient:
    """One client for any number of registries; tokens are cached per registry and scope."""

    def __init__(self, insecure: tuple[str, ...] = (),
                 credentials: Callable[[str], Credentials | None] | None = None, attempts: int = 5,
                 backoff_s: float = 0.2, timeout_s: float = 60, session: requests.Session | None = None):
        self.insecure = set(insecure)
        self.credentials = credentials or docker_credentials
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = "argoexec-builder"
        self._tokens: dict[tuple[str, str], str] = {}
        self._basic: dict[str, str] = {}
        self.stats = Stats()

    # -- plumbing ------------------------------------------------------------------------------

    def base_url(self, registry: str) -> str:
        scheme = "http" if is_loopback(registry) or registry in self.insecure else "https"
        return f"{scheme}://{registry}"

    def _request(self, method: str, registry: str, path: str, repository: str, *, scope_actions: str = "pull",
                 extra_scopes: tuple[str, ...] = (), headers: dict | None = None,
                 data: bytes | Callable[[], IO[bytes] | bytes] | None = None, stream: bool = False,
                 ok: tuple[int, ...] = (200,), what: str = "", attempts: int | None = None,
                 denied_is_answer: bool = False) -> requests.Response:
        """Send with auth and retries; ``data`` may be a factory so that a retry sends the body again.

        ``extra_scopes``: more token scopes the operation needs (a mount pulls from its source).
        Credentials go only to the registry's own host, never to another host named in a Location.
        A 401 leads to one authentication and one more try, not counted as a failed attempt.
        With ``denied_is_answer``, 401/403 are returned to the caller instead of raising."""
        url = path if path.startswith("http") else self.base_url(registry) + path
        scope = " ".join((f"repository:{repository}:{scope_actions}", *extra_scopes))
        what = what or f"{method} {urllib.parse.urlparse(url).path}"
        same_host = urllib.parse.urlparse(url).netloc == urllib.parse.urlparse(self.base_url(registry)).netloc
        attempts = attempts or self.attempts
        authenticated = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = dict(headers or {})
            auth = self._auth_header(registry, scope) if same_host else None
            if auth:
                request_headers["Authorization"] = auth
            body = data() if callable(data) else data
            try:
                response = self.session.request(method, url, headers=request_headers, data=body, stream=stream,
                                                timeout=self.timeout_s, allow_redirects=True)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                if attempt >= attempts:
                    raise Unreachable(f"registry {registry}: {what} failed after {attempt} attempts "
                                      f"({_reason(exc)}); check that it is up and reachable") from None
                self._sleep(attempt, None)
                continue
            finally:
                if hasattr(body, "close"):
                    body.close()
            if response.status_code == 401 and not authenticated and same_host:
                authenticated = True
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authenticate(registry, scope, challenge)
                attempt -= 1  # the authenticated try is not a failed attempt
                continue
            if response.status_code in RETRY_STATUSES:
                retry_after = response.headers.get("Retry-After")
                response.close()
                if attempt >= attempts:
                    raise Unreachable(f"registry {registry}: {what} answered {response.status_code} "
                                      f"{attempt} times; try again later")
                self._sleep(attempt, retry_after)
                continue
            if response.status_code in ok:
                return response
            if response.status_code in (401, 403) and not denied_is_answer:
                response.close()
                raise RegistryDenied(f"registry {registry} denied {what} on {repository} "
                                     f"({response.status_code}); log in with `docker login {registry}` or check "
                                     "the repository's permissions")
            return response  # the caller decides (404 and friends)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        self.stats.retries += 1
        delay = self.backoff_s * (2 ** (attempt - 1))
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)

    def _auth_header(self, registry: str, scope: str) -> str | None:
        token = self._tokens.get((registry, scope))
        if token:
            return f"Bearer {token}"
        return self._basic.get(registry)

    def _authenticate(self, registry: str, scope: str, challenge: str) -> None:
        kind, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_RE.findall(params_text))
        creds = self.credentials(registry)
        if kind.lower() == "basic":
            if creds and creds.username is not None:
                raw = f"{creds.username}:{creds.password or ''}".encode()
                self._basic[registry] = "Basic " + base64.b64encode(raw).decode()
            return
        if kind.lower() != "bearer" or "realm" not in params:
            return
        realm = urllib.parse.urlparse(params["realm"])
        if realm.scheme != "https" and self.base_url(registry).startswith("https://"):
            raise RegistryDenied(f"registry {registry}: its token service is not https ({realm.scheme}://"
                                 f"{realm.netloc}); refusing to send credentials there")
        scopes = list(dict.fromkeys([*params.get("scope", "").split(), *scope.split()]))
        query = [("service", params.get("service", registry)), *(("scope", s) for s in scopes)]
        auth = None
        if creds and creds.identity_token:
            response = self.session.post(params["realm"], data=[*query, ("grant_type", "refresh_token"),
                                                                ("refresh_token", creds.identity_token),
                                                                ("client_id", "argoexec-builder")],
                                         timeout=self.timeout_s)
        else:
            if creds and creds.username is not None:
                auth = (creds.username, creds.password or "")
            try:
                response = self.session.get(params["realm"], params=query, auth=auth, timeout=self.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Unreachable(f"registry {registry}: token service unreachable ({_reason(exc)})") from None
        if response.status_code != 200:
            raise RegistryDenied(f"registry {registry}: the token service refused "
                                 f"{'the credentials' if creds else 'anonymous access'} ({response.status_code}); "
                                 f"log in with `docker login {registry}`")
        answer = response.json()
        token = answer.get("token") or answer.get("access_token")
        if token:
            self._tokens[(registry, scope)] = token

    # -- manifests -----------------------------------------------------------------------------

    def get_manifest(self, ref: Reference, accept: str = ACCEPT_ALL) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest; the digest is checked when asked by digest."""
        response = self._request("GET", ref.registry, f"/v2/{ref.repository}/manifests/{ref.ref}", ref.repository,
                                 headers={"Accept": accept}, ok=(200,), what=f"get manifest {ref}")
        if response.status_code == 404:
            raise RegistryError(f"{ref}: no such manifest in registry {ref.registry}")
        if response.status_code != 200:
            raise RegistryError(f"{ref}: registry answered {response.status_code} to a manifest request")
        body = response.content
        digest = sha256_digest(body)
        if ref.digest and ref.digest != digest:
            raise DigestMismatch(f"{ref}: the registry sent a manifest whose digest is {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in (*INDEX_TYPES, *MANIFEST_TYPES):
            media_type = json.loads(body).get("mediaType", media_type)
        return body, media_type, digest

    def head_manifest(self, ref: Reference, accept: str = ACCEPT_ALL) -> str | None:
        response = self._request("HEAD", ref.registry, f"/v2/{ref.repository}/manifests/{ref.ref}", ref.repository,
                                 headers={"Accept": accept}, ok=(200,), what=f"check manifest {ref}")
        response.close()
        if response.status_code != 200:
            return None
        # Docker-Content-Digest is a SHOULD of the spec: without it, the digest of the manifest's bytes.
        return response.headers.get("Docker-Content-Digest") or self.get_manifest(ref, accept)[2]

    def put_manifest(self, ref: Reference, body: bytes, media_type: str) -> str:
        response = self._request("PUT", ref.registry, f"/v2/{ref.repository}/manifests/{ref.ref}", ref.repository,
                                 scope_actions="pull,push", headers={"Content-Type": media_type}, data=body,
                                 ok=(201, 200), what=f"put manifest {ref}")
        if response.status_code not in (200, 201):
            raise RegistryError(f"{ref}: registry refused the manifest ({response.status_code}: "
                                f"{_error_text(response)})")
        digest = sha256_digest(body)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise DigestMismatch(f"{ref}: registry stored the manifest as {answered}, expected {digest}")
        return digest

    def tags(self, registry: str, repository: str) -> list[str]:
        response = self._request("GET", registry, f"/v2/{repository}/tags/list", repository, ok=(200,),
                                 what=f"list tags of {repository}")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise RegistryError(f"{registry}/{repository}: tag list answered {response.status_code}")
        return list(response.json().get("tags") or [])

    # -- blobs ---------------------------------------------------------------------------------

    def blob_exists(self, registry: str, repository: str, digest: str) -> bool:
        response = self._request("HEAD", registry, f"/v2/{repository}/blobs/{digest}", repository, ok=(200,),
                                 what=f"check blob {digest[:19]}")
        response.close()
        return response.status_code == 200

    def get_blob(self, registry: str, repository: str, digest: str) -> bytes:
        return b"".join(self.stream_blob(registry, repository, digest))

    def stream_blob(self, registry: str, repository: str, digest: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The blob's bytes as they arrive; the digest is checked at the end (DigestMismatch if wrong)."""
        response = self._request("GET", registry, f"/v2/{repository}/blobs/{digest}", repository, stream=True,
                                 ok=(200,), what=f"get blob {digest[:19]}")
        if response.status_code != 200:
            response.close()
            raise RegistryError(f"{registry}/{repository}: blob {digest} answered {response.status_code}")
        hasher = hashlib.sha256()
        try:
            for chunk in response.iter_content(chunk_size):
                hasher.update(chunk)
                yield chunk
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise Unreachable(f"registry {registry}: connection lost while reading blob {digest[:19]} "
                              f"({_reason(exc)})") from None
        finally:
            response.close()
        if "sha256:" + hasher.hexdigest() != digest:
            raise DigestMismatch(f"{registry}/{repository}: blob {digest} arrived with another digest")

    def download_blob(self, registry: str, repository: str, digest: str, path: Path) -> None:
        """Write a blob to ``path`` (digest checked); a connection lost midway starts the download again."""
        for attempt in range(1, self.attempts + 1):
            try:
                with open(path, "wb") as out:
                    for chunk in self.stream_blob(registry, repository, digest):
                        out.write(chunk)
                return
            except Unreachable:
                if attempt == self.attempts:
                    raise
                self._sleep(attempt, None)

    def mount_blob(self, registry: str, repository: str, digest: str, from_repository: str) -> bool:
        response = self._request("POST", registry, f"/v2/{repository}/blobs/uploads/?mount={digest}"
                                 f"&from={urllib.parse.quote(from_repository)}", repository,
                                 scope_actions="pull,push", extra_scopes=(f"repository:{from_repository}:pull",),
                                 ok=(201, 202), what=f"mount blob {digest[:19]}", denied_is_answer=True)
        if response.status_code in (401, 403):
            response.close()
            return False  # no pull right on the source: upload instead
        mounted = response.status_code == 201
        location = response.headers.get("Location")
        response.close()
        if response.status_code == 202 and location:
            # The registry opened an upload instead; cancel it, the caller uploads.
            self._request("DELETE", registry, self._absolute(registry, location), repository,
                          scope_actions="pull,push", ok=(204, 200, 404), what="cancel upload").close()
        if mounted:
            self.stats.mounts += 1
        return mounted

    def upload_blob(self, registry: str, repository: str, digest: str, size: int,
                    opener: Callable[[], IO[bytes] | bytes]) -> None:
        """POST an upload, then PUT the whole blob; a failed attempt starts a fresh upload."""
        for attempt in range(1, self.attempts + 1):
            start = self._request("POST", registry, f"/v2/{repository}/blobs/uploads/", repository,
                                  scope_actions="pull,push", ok=(202,), what=f"start upload {digest[:19]}")
            start.close()
            if start.status_code != 202 or not start.headers.get("Location"):
                raise RegistryError(f"{registry}/{repository}: cannot start an upload ({start.status_code})")
            location = self._absolute(registry, start.headers["Location"])
            separator = "&" if "?" in location else "?"
            try:
                response = self._request(
                    "PUT", registry, f"{location}{separator}digest={urllib.parse.quote(digest)}", repository,
                    scope_actions="pull,push", headers={"Content-Type": "application/octet-stream",
                                                        "Content-Length": str(size)},
                    data=opener, ok=(201,), what=f"upload blob {digest[:19]}", attempts=1)
            except Unreachable:
                if attempt == self.attempts:
                    raise
                self._sleep(attempt, None)
                continue
            response.close()
            if response.status_code == 201:
                answered = response.headers.get("Docker-Content-Digest")
                if answered and answered != digest:
                    raise DigestMismatch(f"{registry}/{repository}: stored {answered}, expected {digest}")
                self.stats.uploaded_bytes += size
                self.stats.uploads[digest] = self.stats.uploads.get(digest, 0) + 1
                return
            if attempt == self.attempts:
                if response.status_code == 400 and "DIGEST_INVALID" in response.text:
                    raise DigestMismatch(f"{registry}/{repository}: the registry keeps computing another digest "
                                         f"than {digest}")
                raise RegistryError(f"{registry}/{repository}: upload of {digest[:19]} answered "
                                    f"{response.status_code}")
            self._sleep(attempt, None)

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

    def _absolute(self, registry: str, location: str) -> str:
        return location if location.startswith("http") else self.base_url(registry) + location


def _reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"(Connection refused|Connection reset by peer|Connection aborted|timed out|"
                      r"Name or service not known|Remote end closed connection[^'\")]*|IncompleteRead[^'\")]*)", text)
    return match.group(1) if match else exc.__class__.__name__


def _error_text(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or response.reason
    except ValueError:
        return response.reason or str(response.status_code)


def env_insecure() -> tuple[str, ...]:
    """Registries named insecure in ``ARGOEXEC_BUILDER_INSECURE_REGISTRIES`` (comma-separated)."""
    return tuple(r.strip() for r in os.environ.get("ARGOEXEC_BUILDER_INSECURE_REGISTRIES", "").split(",") if r.strip())
