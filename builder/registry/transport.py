"""HTTP to registries (requests): authentication, and one retry policy for every request.

- Authentication on a 401, from its ``WWW-Authenticate`` challenge: the token flow of
  ``Bearer`` (anonymous, with a user and password, or with an identity token as a refresh token),
  and ``Basic``. A ``registrytoken`` from the Docker config is sent as a Bearer token as it is
  (go-containerregistry's ``authn.AuthConfig.RegistryToken`` does the same). Credentials go only to
  the registry's own host: never to another host named in a ``Location``, and requests drops the
  ``Authorization`` header when a redirect leaves the host.
- One ``RetryPolicy`` (builder/retry.py, the project's one) for every request, token requests and blob
  reads included: 429, 502, 503,
  504 and 500 (the OCI distribution spec lets a client retry 502/503/504; registries behind load
  balancers answer 500 for the same passing troubles) and dropped connections are tried again with
  exponential backoff, at least as long as ``Retry-After`` asks (RFC 9110 §10.2.3: seconds or an
  HTTP date; capped at 30 s). A registry that stops answering counts as a dropped connection once
  the timeout passes (60 s to connect or between two reads; ``ARGOEXEC_BUILDER_REGISTRY_TIMEOUT``).
  A registry that keeps failing is ``Unreachable`` (exit 4), and the message says how many
  attempts were made.
- A blob read cut off midway goes on where it stopped: the OCI distribution spec ("Pulling
  blobs") says a registry SHOULD support the ``Range`` request header (RFC 9110 §14), so the next
  attempt asks for ``Range: bytes=N-``; a ``206 Partial Content`` whose ``Content-Range`` starts at
  or before N continues the bytes already delivered, any other answer is the blob from the start
  again, of which the first N bytes are skipped. The caller sees each byte once, in order, and
  checks the digest over all of them (client.stream_blob).
- Every answer is bounded (builder/answers.py): a document (manifest, index, referrers page, token,
  error) is read up to ``MAX_ANSWER`` bytes and refused past it, a blob up to the size its descriptor
  gives. Each attempt has a wall-clock deadline besides the timeout between two reads: the timeout for
  a document; for a blob, the timeout plus the time its size takes at ``MIN_BLOB_RATE`` (a registry that
  drips a byte now and then is a lost attempt, not a hung run). A blob read without a known size
  (streamed to disk) is bounded by the timeout between reads only.
- TLS is verified; plain http only for loopback or a registry named insecure.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.parse
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import IO

import requests

from ..answers import Deadline, DeadlinePassed, TooLarge, mount, read_limited
from ..errors import BuilderError, InputError, RegistryDenied, RegistryError, Unreachable
from ..reference import is_loopback
from ..retry import RetryPolicy, TryAgain
from ..secrets import strip_userinfo
from .credentials import Credentials, docker_credentials

RETRY_STATUSES = {429, 500, 502, 503, 504}
DEFAULT_TIMEOUT_S = 60.0
TIMEOUT_ENV = "ARGOEXEC_BUILDER_REGISTRY_TIMEOUT"
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"', re.ASCII)
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)\Z", re.ASCII)
READ_CHUNK = 1 << 16
# distribution's own limit on a manifest it accepts is 4 MiB (registry/handlers/manifests.go,
# maxManifestBodySize); a token, an error or a page of referrers is far smaller.
MAX_ANSWER = 4 << 20
MIN_BLOB_RATE = 256 << 10  # bytes per second a blob read may not fall below on average
_LOST = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass
class Stats:
    """What a client did, for benchmarks and for tests that count uploads."""

    uploaded_bytes: int = 0
    uploads: dict[str, int] = field(default_factory=dict)  # digest -> times uploaded
    mounts: int = 0
    existing: int = 0
    retries: int = 0
    resumed: int = 0  # blob reads continued with a 206 answer to a Range request


def lost(registry: str, what: str, exc: Exception) -> TryAgain:
    """A connection that failed or broke off."""
    why = reason(exc)
    return TryAgain(lambda n: Unreachable(f"registry {registry}: {what} failed after {n} attempts ({why}); "
                                          "check that it is up and reachable"))


def busy(registry: str, what: str, response: requests.Response) -> TryAgain:
    """A registry that answered one of RETRY_STATUSES."""
    status = response.status_code
    return TryAgain(lambda n: Unreachable(f"registry {registry}: {what} failed after {n} attempts (the last "
                                          f"answered {status}); try again later"),
                    response.headers.get("Retry-After"))


class Transport:
    """Requests to any number of registries; tokens are cached per registry and scope."""

    def __init__(self, insecure: tuple[str, ...] = (),
                 credentials: Callable[[str], Credentials | None] | None = None, attempts: int = 5,
                 backoff_s: float = 0.2, timeout_s: float = DEFAULT_TIMEOUT_S, session: requests.Session | None = None):
        self.insecure = set(insecure)
        self.credentials = credentials or docker_credentials
        self.timeout_s = timeout_s
        self.session = mount(session or requests.Session())
        self.session.headers["User-Agent"] = "argoexec-builder"
        self.stats = Stats()
        self.policy = RetryPolicy(attempts, backoff_s, self.stats)
        self._tokens: dict[tuple[str, str], str] = {}
        self._static: dict[str, str] = {}  # registry -> a Basic header, or a Bearer registry token

    def base_url(self, registry: str) -> str:
        scheme = "http" if is_loopback(registry) or registry in self.insecure else "https"
        return f"{scheme}://{registry}"

    def absolute(self, registry: str, location: str) -> str:
        return location if location.startswith("http") else self.base_url(registry) + location

    def request(self, method: str, registry: str, path: str, repository: str, **options) -> requests.Response:
        """``send`` under the retry policy; ``data`` may be a factory so that each attempt sends the body anew."""
        return self.policy.run(lambda: self.send(method, registry, path, repository, **options))

    def send(self, method: str, registry: str, path: str, repository: str, *, stream: bool = False,
             limit: int = MAX_ANSWER, **options) -> requests.Response:
        """One attempt (``_send``); unless ``stream``, its answer is read whole, at most ``limit`` bytes,
        within the deadline (``timeout_s``). An answer cut off by the deadline is a lost attempt."""
        if stream:
            return self._send(method, registry, path, repository, stream=True, **options)
        what = _what(method, path, options.get("what", ""))
        # An upload's deadline counts from when its body has gone: the answer is what it bounds.
        with Deadline(self.timeout_s, from_answer=options.get("data") is not None) as deadline:
            try:
                response = self._send(method, registry, path, repository, **options)
                read_limited(response, limit)
                deadline.check()
            except TryAgain:
                if deadline.expired:
                    raise lost(registry, what, DeadlinePassed(self.timeout_s)) from None
                raise
            except (*_LOST, DeadlinePassed) as exc:
                raise lost(registry, what, DeadlinePassed(self.timeout_s) if deadline.expired else exc) from None
            except TooLarge:
                raise RegistryError(f"registry {registry}: {what}: an answer of more than {limit} bytes; expected "
                                    "far less (is it a registry?)") from None
        return response

    def _send(self, method: str, registry: str, path: str, repository: str, *, scope_actions: str = "pull",
              extra_scopes: tuple[str, ...] = (), headers: dict | None = None,
              data: bytes | Callable[[], IO[bytes] | bytes] | None = None, stream: bool = False,
              ok: tuple[int, ...] = (200,), what: str = "", denied_is_answer: bool = False) -> requests.Response:
        """One attempt, with authentication: ``TryAgain`` if the connection fails or the registry is busy.

        ``extra_scopes``: more token scopes the operation needs (a mount pulls from its source).
        A 401 leads to one authentication and one more try within the same attempt.
        With ``denied_is_answer``, 401/403 are returned to the caller instead of raising;
        other answers outside ``ok`` are returned too (the caller decides about 404 and friends)."""
        url = path if path.startswith("http") else self.base_url(registry) + path
        scope = " ".join((f"repository:{repository}:{scope_actions}", *extra_scopes))
        what = _what(method, url, what)
        same_host = urllib.parse.urlparse(url).netloc == urllib.parse.urlparse(self.base_url(registry)).netloc
        authenticated = False
        while True:
            request_headers = dict(headers or {})
            auth = self._auth_header(registry, scope) if same_host else None
            if auth:
                request_headers["Authorization"] = auth
            body = data() if callable(data) else data
            try:
                response = self.session.request(method, url, headers=request_headers, data=body, stream=True,
                                                timeout=self.timeout_s, allow_redirects=True)
            except _LOST as exc:
                raise lost(registry, what, exc) from None
            finally:
                if body is not None and not isinstance(body, bytes):
                    body.close()
            if response.status_code == 401 and not authenticated and same_host:
                authenticated = True
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authenticate(registry, scope, challenge, what)
                continue
            if response.status_code in RETRY_STATUSES:
                response.close()
                raise busy(registry, what, response)
            if response.status_code in ok:
                return response
            if response.status_code in (401, 403) and not denied_is_answer:
                response.close()
                raise RegistryDenied(f"registry {registry} denied {what} on {repository} "
                                     f"({response.status_code}); log in with `docker login {registry}` or check "
                                     "the repository's permissions")
            return response

    def read(self, registry: str, path: str, repository: str, what: str,
             chunk_size: int = READ_CHUNK, size: int | None = None) -> Generator[bytes, None, None]:
        """The body of a GET as it arrives, each byte once, resumed across cut-off connections
        (see the module's docstring); any attempt, the first or a resumption, counts against the policy.

        With ``size`` (the descriptor's), a body longer than that is refused one chunk past it (at most
        ``size`` + 1 bytes when the size is below a chunk), and each attempt has a deadline: the timeout
        plus the time ``size`` takes at MIN_BLOB_RATE.

        urllib3 drops a chunk it had only partly read when the connection breaks, so a cut costs
        up to ``chunk_size`` bytes read again: hence small chunks."""
        delivered = 0
        use_range = True
        number = 0
        if size is not None:
            chunk_size = max(1, min(chunk_size, size + 1))
        while True:
            number += 1
            deadline = Deadline(self.timeout_s + size / MIN_BLOB_RATE) if size is not None else None
            # Offsets count the bytes on the wire: no content coding may change them.
            headers = {"Accept-Encoding": "identity"}
            if delivered and use_range:
                headers["Range"] = f"bytes={delivered}-"
            response = None
            try:
                if deadline is not None:
                    deadline.start()
                    with deadline.registering():
                        response = self.send("GET", registry, path, repository, headers=headers, stream=True,
                                             ok=(200, 206), what=what)
                else:
                    response = self.send("GET", registry, path, repository, headers=headers, stream=True,
                                         ok=(200, 206), what=what)
                if response.status_code == 416 and "Range" in headers:
                    use_range = False  # the registry cannot serve the rest: start over
                    raise lost(registry, what, RegistryError("416 to a Range request"))
                if response.status_code not in (200, 206):
                    raise RegistryError(f"{registry}/{repository}: {what} answered {response.status_code}")
                skip = self._already_delivered(response, delivered)
                if skip is None:
                    use_range = False  # a range we did not ask for: the whole body next time
                    raise lost(registry, what, RegistryError("a Content-Range past the bytes read"))
                if response.status_code == 206 and delivered:
                    self.stats.resumed += 1
                try:
                    for chunk in response.iter_content(chunk_size):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                            if not chunk:
                                continue
                        delivered += len(chunk)
                        if size is not None and delivered > size:
                            raise RegistryError(f"{registry}/{repository}: {what}: the blob is longer than the "
                                                f"{size} bytes its descriptor gives; refused")
                        yield chunk
                    if deadline is not None:
                        deadline.check()
                except (*_LOST, DeadlinePassed) as exc:
                    cause = DeadlinePassed(deadline.seconds) if deadline is not None and deadline.expired else exc
                    raise lost(registry, f"{what} (cut off after {delivered} bytes)", cause) from None
                if skip:  # the whole answer was shorter than what we had: not the same blob
                    raise RegistryError(f"{registry}/{repository}: {what} answered fewer bytes than it sent before")
                return
            except TryAgain as failure:
                if deadline is not None and deadline.expired:
                    self.policy.failed(number, lost(registry, f"{what} (cut off after {delivered} bytes)",
                                                    DeadlinePassed(deadline.seconds)))
                else:
                    self.policy.failed(number, failure)
            finally:
                if deadline is not None:
                    deadline.cancel()
                if response is not None:
                    response.close()

    @staticmethod
    def _already_delivered(response: requests.Response, delivered: int) -> int | None:
        """How many leading bytes of this answer the caller already has; None if it starts past them."""
        if response.status_code != 206:
            return delivered  # the whole body again
        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", "").strip())
        if not match or int(match.group(1)) > delivered:
            return None
        return delivered - int(match.group(1))

    def _auth_header(self, registry: str, scope: str) -> str | None:
        token = self._tokens.get((registry, scope))
        if token:
            return f"Bearer {token}"
        return self._static.get(registry)

    def _authenticate(self, registry: str, scope: str, challenge: str, what: str) -> None:
        kind, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_RE.findall(params_text))
        creds = self.credentials(registry)
        if creds and creds.registry_token:
            self._static[registry] = f"Bearer {creds.registry_token}"
            return
        if kind.lower() == "basic":
            if creds and creds.username is not None:
                raw = f"{creds.username}:{creds.password or ''}".encode()
                self._static[registry] = "Basic " + base64.b64encode(raw).decode()
            return
        if kind.lower() != "bearer" or "realm" not in params:
            return
        realm = params["realm"]
        if urllib.parse.urlparse(realm).scheme != "https" and self.base_url(registry).startswith("https://"):
            raise RegistryDenied(f"registry {registry}: its token service is not https ({strip_userinfo(realm)}); "
                                 "refusing to send credentials there")
        scopes = list(dict.fromkeys([*params.get("scope", "").split(), *scope.split()]))
        query = [("service", params.get("service", registry)), *(("scope", s) for s in scopes)]
        what = f"token for {what}"
        try:
            if creds and creds.identity_token:
                response = self.session.post(realm, data=[*query, ("grant_type", "refresh_token"),
                                                          ("refresh_token", creds.identity_token),
                                                          ("client_id", "argoexec-builder")],
                                             timeout=self.timeout_s, stream=True)
            else:
                auth = (creds.username, creds.password or "") if creds and creds.username is not None else None
                response = self.session.get(realm, params=query, auth=auth, timeout=self.timeout_s, stream=True)
            read_limited(response, MAX_ANSWER)
        except _LOST as exc:
            raise lost(registry, what, exc) from None
        except TooLarge:
            raise RegistryError(f"registry {registry}: its token service answered more than {MAX_ANSWER} bytes; "
                                "expected a token") from None
        if response.status_code in RETRY_STATUSES:
            raise busy(registry, what, response)
        if response.status_code != 200:
            raise RegistryDenied(f"registry {registry}: the token service refused "
                                 f"{'the credentials' if creds else 'anonymous access'} ({response.status_code}); "
                                 f"log in with `docker login {registry}`")
        try:
            answer = response.json()
        except (ValueError, RecursionError):
            answer = None
        token = (answer.get("token") or answer.get("access_token")) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"registry {registry}: its token service answered without a token")
        self._tokens[(registry, scope)] = token


def _what(method: str, url: str, what: str) -> str:
    return what or f"{method} {urllib.parse.urlparse(url).path}"


def reason(exc: Exception) -> str:
    if isinstance(exc, DeadlinePassed):
        return str(exc)
    text = str(exc)
    match = re.search(r"(Connection refused|Connection reset by peer|Connection aborted|timed out|"
                      r"Name or service not known|Remote end closed connection[^'\")]*|IncompleteRead[^'\")]*)", text)
    return match.group(1) if match else (text if isinstance(exc, BuilderError) else exc.__class__.__name__)


def env_insecure() -> tuple[str, ...]:
    """Registries named insecure in ``ARGOEXEC_BUILDER_INSECURE_REGISTRIES`` (comma-separated)."""
    return tuple(r.strip() for r in os.environ.get("ARGOEXEC_BUILDER_INSECURE_REGISTRIES", "").split(",") if r.strip())


def env_timeout() -> float:
    """Seconds a registry may take to accept a connection or to send the next bytes
    (``ARGOEXEC_BUILDER_REGISTRY_TIMEOUT``, default 60); then the attempt counts as lost."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:  # also refuses nan and inf
        raise InputError(f"{TIMEOUT_ENV}={text[:40]!r}: expected a number of seconds above 0, at most 3600")
    return seconds
