"""HTTP to registries (requests): authentication and retries.

- Authentication: the token flow from ``WWW-Authenticate: Bearer`` (anonymous, or with
  credentials), and Basic.
- Retries with exponential backoff on 429, 5xx and dropped connections (``Retry-After`` is
  honoured). A registry that keeps failing is ``Unreachable`` (exit 4).
- TLS is verified; plain http only for loopback or a registry named insecure.
"""

from __future__ import annotations

import base64
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import requests

from ..errors import RegistryDenied, Unreachable
from .credentials import Credentials, docker_credentials
from .reference import is_loopback

RETRY_STATUSES = {429, 500, 502, 503, 504}
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Stats:
    """What a client did, for benchmarks and for tests that count uploads."""

    uploaded_bytes: int = 0
    uploads: dict[str, int] = field(default_factory=dict)  # digest -> times uploaded
    mounts: int = 0
    existing: int = 0
    retries: int = 0


class Transport:
    """Requests to any number of registries; tokens are cached per registry and scope."""

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

    def base_url(self, registry: str) -> str:
        scheme = "http" if is_loopback(registry) or registry in self.insecure else "https"
        return f"{scheme}://{registry}"

    def absolute(self, registry: str, location: str) -> str:
        return location if location.startswith("http") else self.base_url(registry) + location

    def request(self, method: str, registry: str, path: str, repository: str, *, scope_actions: str = "pull",
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
                                      f"({reason(exc)}); check that it is up and reachable") from None
                self.sleep(attempt, None)
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
                self.sleep(attempt, retry_after)
                continue
            if response.status_code in ok:
                return response
            if response.status_code in (401, 403) and not denied_is_answer:
                response.close()
                raise RegistryDenied(f"registry {registry} denied {what} on {repository} "
                                     f"({response.status_code}); log in with `docker login {registry}` or check "
                                     "the repository's permissions")
            return response  # the caller decides (404 and friends)

    def sleep(self, attempt: int, retry_after: str | None) -> None:
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
                raise Unreachable(f"registry {registry}: token service unreachable ({reason(exc)})") from None
        if response.status_code != 200:
            raise RegistryDenied(f"registry {registry}: the token service refused "
                                 f"{'the credentials' if creds else 'anonymous access'} ({response.status_code}); "
                                 f"log in with `docker login {registry}`")
        answer = response.json()
        token = answer.get("token") or answer.get("access_token")
        if token:
            self._tokens[(registry, scope)] = token


def reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"(Connection refused|Connection reset by peer|Connection aborted|timed out|"
                      r"Name or service not known|Remote end closed connection[^'\")]*|IncompleteRead[^'\")]*)", text)
    return match.group(1) if match else exc.__class__.__name__


def env_insecure() -> tuple[str, ...]:
    """Registries named insecure in ``ARGOEXEC_BUILDER_INSECURE_REGISTRIES`` (comma-separated)."""
    return tuple(r.strip() for r in os.environ.get("ARGOEXEC_BUILDER_INSECURE_REGISTRIES", "").split(",") if r.strip())
