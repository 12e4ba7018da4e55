"""A small client of GitHub's REST API (requests): an upstream's releases, a tag's commit, a file at a tag.

The calls and their shapes, as GitHub documents them (API version 2022-11-28):

- List releases, ``GET /repos/{owner}/{repo}/releases?per_page=100`` (per_page at most 100): a JSON list
  of releases, of which this reads ``tag_name``, ``draft``, ``prerelease`` and ``published_at``; drafts
  are ignored. https://docs.github.com/en/rest/releases/releases#list-releases
- More pages come through the ``link`` header's ``rel="next"`` URL, omitted on the last page.
  https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
- Get a commit, ``GET /repos/{owner}/{repo}/commits/{ref}``, with the ``sha`` custom media type
  (``Accept: application/vnd.github.sha``): only the commit's SHA-1, as text.
  https://docs.github.com/en/rest/commits/commits#get-a-commit
- Get repository content, ``GET /repos/{owner}/{repo}/contents/{path}?ref={ref}``, with
  ``Accept: application/vnd.github.raw+json``: the raw file. https://docs.github.com/en/rest/repos/contents
- Headers: ``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version: 2022-11-28`` and, with a token,
  ``Authorization: Bearer <token>``. https://docs.github.com/en/rest/about-the-rest-api/api-versions
- Rate limits: a request over the primary limit is answered 403 or 429 with ``x-ratelimit-remaining: 0``
  (``x-ratelimit-reset`` is when it resets, in UTC epoch seconds); unauthenticated requests get 60 an hour.
  Secondary rate limits (too many requests at once or per minute) are answered 403 or 429 too, without
  ``x-ratelimit-remaining: 0``; with ``retry-after`` the client waits that many seconds before trying
  again, without it at least a minute ("Exceeding the rate limit"). Here the wait is bounded
  (``MAX_SECONDARY_WAIT_S``) and counts as an attempt; one that persists is named as the secondary limit.
  https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api

The base URL is ``GITHUB_API_URL`` (GitHub Actions sets it; GitHub Enterprise Server has another), else
https://api.github.com. The token is ``GITHUB_TOKEN``, else ``GH_TOKEN``: sent only to the API's own
host (a ``next`` link is followed only with the API's own scheme and host: never to another host, nor
over plain http from an https API), never printed, logged or put into an error (every message passes
through secrets.redact with it). The project's one retry policy (builder/retry.py): 3 attempts on 5xx answers,
secondary rate limits and lost connections, with exponential backoff (at least what a secondary limit asks);
then the API is unreachable (exit 4), and the message says after how many attempts. Each answer is read
within a wall-clock deadline (``TIMEOUT_S``, headers and body) and refused past ``MAX_BODY`` bytes (builder/answers.py):
a server that drips a byte at a time, or sends gigabytes, costs one attempt, not the run or the memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .answers import Deadline, DeadlinePassed, TooLarge, mount, read_limited
from .errors import BuilderError, InputError, Unreachable
from .retry import RetryPolicy, TryAgain
from .secrets import redact

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
JSON = "application/vnd.github+json"
SHA = "application/vnd.github.sha"
RAW = "application/vnd.github.raw+json"
TOKEN_ENVS = ("GITHUB_TOKEN", "GH_TOKEN")
ATTEMPTS = 3
TIMEOUT_S = 30.0
MAX_PAGES = 50  # 5000 releases: far more than any repository has
MAX_BODY = 4 << 20
MAX_SECONDARY_WAIT_S = 60.0  # GitHub asks for at least a minute when it sends no retry-after
_SHA_RE = re.compile(r"^[0-9a-f]{40}\Z", re.ASCII)


class ApiError(BuilderError):
    """The GitHub API answered, but not in the shape its documentation gives (exit 1)."""


@dataclass(frozen=True)
class Release:
    tag: str
    prerelease: bool
    published_at: str | None


def env_token() -> str | None:
    for name in TOKEN_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class GitHub:
    """GitHub's REST API at ``base_url`` (default: ``GITHUB_API_URL``, else api.github.com)."""

    def __init__(self, base_url: str | None = None, token: str | None = None, attempts: int = ATTEMPTS,
                 backoff_s: float = 0.25, sleep: Callable[[float], None] = time.sleep):
        self.base_url = (base_url or os.environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/")
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.username or parsed.password:
            raise InputError(f"GITHUB_API_URL {redact(self.base_url)!r}: expected an http(s) URL such as "
                             f"{DEFAULT_API_URL}, without user:password@")
        self.host = parsed.netloc
        self.token = token if token is not None else env_token()
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.scheme = parsed.scheme
        self.session = mount(requests.Session())
        self.session.trust_env = False  # no ~/.netrc credentials: the token is the only one sent

    def close(self) -> None:
        self.session.close()

    def _say(self, text: str) -> str:
        return redact(text, (self.token,) if self.token else ())

    # -- requests ------------------------------------------------------------------------------

    def _get(self, url: str, accept: str, what: str, repository: str) -> requests.Response:
        """GET under the retry policy, the body read (at most MAX_BODY bytes) within the deadline; the
        errors every call shares (unreachable, token, rate limits)."""
        headers = {"Accept": accept, "X-GitHub-Api-Version": API_VERSION, "User-Agent": "argoexec-builder"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        policy = RetryPolicy(self.attempts, self.backoff_s, sleep=self.sleep, max_wait_s=MAX_SECONDARY_WAIT_S)
        return policy.run(lambda: self._attempt(url, headers, what, repository))

    def _attempt(self, url: str, headers: dict[str, str], what: str, repository: str) -> requests.Response:
        """One GET: its answer, or ``TryAgain`` for a lost connection, a 5xx or a secondary rate limit
        (whose wait is the policy's ``retry_after``)."""
        with Deadline(TIMEOUT_S) as deadline:
            try:
                response = self.session.get(url, headers=headers, timeout=TIMEOUT_S, allow_redirects=False,
                                            stream=True)
                read_limited(response, MAX_BODY)
                deadline.check()
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    DeadlinePassed) as exc:
                why = str(DeadlinePassed(TIMEOUT_S)) if deadline.expired else exc.__class__.__name__
                raise TryAgain(lambda n: self._unreachable(what, n, why)) from None
            except TooLarge:
                raise ApiError(self._say(f"GitHub API {self.host}: {what}: an answer of more than {MAX_BODY} "
                                         "bytes; expected far less")) from None
        status = response.status_code
        asked = self._secondary_limit(response)
        if asked is not None:
            raise TryAgain(lambda n: Unreachable(self._say(
                f"GitHub API {self.host}: {what}: still over GitHub's secondary rate limit after {n} attempts (the "
                f"last answered {status}); wait a few minutes and run it again, with fewer runs at once")), asked)
        if status >= 500:
            raise TryAgain(lambda n: self._unreachable(what, n, f"the last answered {status}"))
        return self._checked(response, what, repository)

    def _unreachable(self, what: str, attempts: int, why: str) -> Unreachable:
        return Unreachable(self._say(f"GitHub API {self.host}: {what} failed after {attempts} attempts ({why}); "
                                     "check that it is reachable (GITHUB_API_URL) and try again"))

    @staticmethod
    def _secondary_limit(response: requests.Response) -> float | None:
        """Seconds to wait if ``response`` is a secondary rate limit (403 or 429 without
        ``x-ratelimit-remaining: 0``, with ``retry-after`` or GitHub's message), else None."""
        if response.status_code not in (403, 429):
            return None
        if response.headers.get("x-ratelimit-remaining", "").strip() == "0":
            return None  # the primary limit: _checked names it
        retry_after = response.headers.get("retry-after", "").strip()
        if retry_after.isascii() and retry_after.isdigit():
            return min(float(retry_after), MAX_SECONDARY_WAIT_S)
        if response.status_code == 429 or b"secondary rate limit" in response.content.lower():
            return MAX_SECONDARY_WAIT_S
        return None

    def _checked(self, response: requests.Response, what: str, repository: str) -> requests.Response:
        status = response.status_code
        if status in (403, 429) and response.headers.get("x-ratelimit-remaining", "").strip() == "0":
            reset = _reset_time(response.headers.get("x-ratelimit-reset", ""))
            whose = "this token's" if self.token else "the unauthenticated"
            advice = "try again later" if self.token else "set GITHUB_TOKEN (or GH_TOKEN) for a higher limit"
            raise Unreachable(self._say(f"GitHub API {self.host}: {what}: {whose} rate limit is used up"
                                        f"{f' until {reset}' if reset else ''}; {advice}"))
        if status == 401:
            raise InputError(self._say(f"GitHub API {self.host}: {what}: the token was refused (401); check "
                                       "GITHUB_TOKEN / GH_TOKEN, or unset them for anonymous access"))
        if status == 403:
            raise InputError(self._say(f"GitHub API {self.host}: {what}: access refused (403); the token may lack "
                                       f"read access to {repository}"))
        if status in (301, 302, 307, 308):
            raise ApiError(self._say(f"GitHub API {self.host}: {what}: answered {status} (moved); "
                                     f"check argo_releases.repository ({repository})"))
        return response

    def _body(self, response: requests.Response, what: str) -> bytes:
        return response.content  # read by _get, at most MAX_BODY bytes

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        return self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")

    # -- the calls -----------------------------------------------------------------------------

    def releases(self, repository: str) -> list[Release]:
        """Every published release (drafts ignored), following ``rel="next"`` links."""
        owner, name = _split(repository)
        url = self._url(f"/repos/{owner}/{name}/releases", {"per_page": "100"})
        what = f"list releases of {repository}"
        found: list[Release] = []
        for _ in range(MAX_PAGES):
            response = self._get(url, JSON, what, repository)
            if response.status_code == 404:
                raise InputError(self._say(f"argo_releases.repository: {repository}: no such repository on "
                                           f"{self.host} (404); expected owner/name of a public repository "
                                           "(or one GITHUB_TOKEN can read)"))
            if response.status_code != 200:
                raise ApiError(self._say(f"GitHub API {self.host}: {what}: answered {response.status_code}"))
            try:
                page = _json(self._body(response, what))
            except RecursionError:
                raise ApiError(self._say(f"GitHub API {self.host}: {what}: the answer is JSON nested too deeply "
                                         "to be a list of releases")) from None
            except ValueError:
                raise ApiError(self._say(f"GitHub API {self.host}: {what}: the answer is not JSON")) from None
            if not isinstance(page, list):
                raise ApiError(self._say(f"GitHub API {self.host}: {what}: expected a list of releases"))
            for item in page:
                if not isinstance(item, dict) or not isinstance(item.get("tag_name"), str):
                    raise ApiError(self._say(f"GitHub API {self.host}: {what}: a release without a tag_name"))
                if item.get("draft") is True:
                    continue
                published = item.get("published_at")
                found.append(Release(item["tag_name"], item.get("prerelease") is True,
                                     published if isinstance(published, str) else None))
            following = response.links.get("next", {}).get("url")
            if not following:
                return found
            following = urllib.parse.urljoin(url, following)  # a relative link is on this API
            parts = urllib.parse.urlsplit(following)
            if parts.scheme != self.scheme or parts.netloc != self.host:
                raise ApiError(self._say(f"GitHub API {self.host}: {what}: the next page is not on "
                                         f"{self.scheme}://{self.host}; not following it (the token goes to this "
                                         "API only, never in clear)"))
            url = following
        raise ApiError(self._say(f"GitHub API {self.host}: {what}: more than {MAX_PAGES} pages"))

    def commit(self, repository: str, ref: str) -> str:
        """The 40-hex SHA of the commit ``ref`` (a tag) names."""
        owner, name = _split(repository)
        what = f"the commit of {repository} {ref}"
        response = self._get(self._url(f"/repos/{owner}/{name}/commits/{urllib.parse.quote(ref, safe='')}"), SHA,
                             what, repository)
        if response.status_code in (404, 422):
            raise InputError(self._say(f"{repository}: no tag {ref} on {self.host} ({response.status_code}); "
                                       "check the Argo version"))
        if response.status_code != 200:
            raise ApiError(self._say(f"GitHub API {self.host}: {what}: answered {response.status_code}"))
        sha = self._body(response, what).decode("ascii", "replace").strip()
        if not _SHA_RE.match(sha):
            raise ApiError(self._say(f"GitHub API {self.host}: {what}: the answer is not a 40-hex commit SHA"))
        return sha

    def file(self, repository: str, path: str, ref: str) -> str:
        """The text of the file at ``path`` at ``ref``."""
        owner, name = _split(repository)
        what = f"{path} of {repository} at {ref}"
        response = self._get(self._url(f"/repos/{owner}/{name}/contents/{urllib.parse.quote(path)}", {"ref": ref}),
                             RAW, what, repository)
        if response.status_code == 404:
            raise InputError(self._say(f"{repository}: no {path} at {ref} on {self.host} (404)"))
        if response.status_code != 200:
            raise ApiError(self._say(f"GitHub API {self.host}: {what}: answered {response.status_code}"))
        try:
            return self._body(response, what).decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(self._say(f"GitHub API {self.host}: {what}: not UTF-8 text")) from None


def _split(repository: str) -> tuple[str, str]:
    owner, _, name = repository.partition("/")
    return urllib.parse.quote(owner, safe=""), urllib.parse.quote(name, safe="")


def _json(body: bytes):
    return json.loads(body)


def _reset_time(value: str) -> str:
    try:
        return dt.datetime.fromtimestamp(int(value.strip()), dt.timezone.utc).strftime("%H:%M UTC")
    except (ValueError, OverflowError, OSError):
        return ""
