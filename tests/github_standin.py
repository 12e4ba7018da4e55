"""A stand-in for GitHub's REST API on 127.0.0.1: the three calls `invoke refresh` makes.

Every payload here is constructed by the tests, in the documented shape of:

- https://docs.github.com/en/rest/releases/releases#list-releases (a JSON list of release objects;
  ``tag_name``, ``draft``, ``prerelease``, ``published_at`` among their fields), paged with a ``link``
  header (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api);
- https://docs.github.com/en/rest/commits/commits#get-a-commit (with ``Accept: application/vnd.github.sha``
  the commit's SHA-1 as text; otherwise a JSON object with ``sha``);
- https://docs.github.com/en/rest/repos/contents (with ``Accept: application/vnd.github.raw+json`` the raw
  file; otherwise a JSON object with base64 ``content``);
- https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api (403 with
  ``x-ratelimit-remaining: 0`` when the primary limit is used up; for a secondary rate limit, section
  "Exceeding the rate limit": 403 or 429, ``x-ratelimit-remaining`` not 0, a ``retry-after`` header in
  seconds when GitHub gives one, and a message naming the secondary rate limit) and the
  ``{"message", "documentation_url"}`` error objects.

Nothing here was recorded from GitHub. With ``token`` set, a request must carry
``Authorization: Bearer <token>`` (else 401 "Bad credentials"); ``fault`` makes every answer a rate-limit
403 (``"rate-limit"``) or a 500 (``"500"``); ``secondary`` answers that many requests (then the rest as usual)
with a secondary rate limit, of status ``secondary_status`` and with ``retry-after: secondary_retry_after``
(None: no header). ``link_base`` replaces the scheme and host of the ``link`` header's URLs ("" makes them
relative). Every request is kept (``requests``) for the tests to read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.http_body import ServedInThread

DOCS = "https://docs.github.com/rest"


def commit_of(repository: str, tag: str) -> str:
    """The commit the stand-in gives a tag: derived from its name (stable, 40 hex digits)."""
    return hashlib.sha1(f"{repository}@{tag}".encode()).hexdigest()


def go_mod(go: str) -> str:
    return (f"module github.com/argoproj/argo-workflows/v4\n\ngo {go}\n\ntoolchain go{go}\n\n"
            "require (\n\tgithub.com/example/dependency v1.2.3\n)\n")


@dataclass
class StandinRelease:
    tag: str
    go: str
    prerelease: bool = False
    draft: bool = False
    published_at: str = "2026-01-01T00:00:00Z"


@dataclass
class GitHubState:
    repositories: dict[str, list[StandinRelease]] = field(default_factory=dict)
    token: str | None = None
    fault: str | None = None  # "rate-limit" or "500"
    page_size: int = 2  # small, so that every listing is paged
    secondary: int = 0  # how many requests (from now) get a secondary rate limit
    secondary_status: int = 403
    secondary_retry_after: str | None = "1"
    link_base: str | None = None
    requests: list[dict] = field(default_factory=list)
    commits: dict[tuple[str, str], str] = field(default_factory=dict)  # a tag moved: (repo, tag) -> commit

    def release(self, repository: str, tag: str) -> StandinRelease | None:
        return next((r for r in self.repositories.get(repository, []) if r.tag == tag), None)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"message": message, "documentation_url": DOCS}).encode(), headers=headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        state.requests.append({"path": url.path, "query": query, "accept": self.headers.get("Accept"),
                               "authorization": self.headers.get("Authorization"),
                               "api_version": self.headers.get("X-GitHub-Api-Version")})
        if state.fault == "500":
            return self._error(500, "Server Error")
        remaining = "0" if state.fault == "rate-limit" else "59"
        limits = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": remaining, "x-ratelimit-used": "60",
                  "x-ratelimit-reset": "1893456000", "x-ratelimit-resource": "core"}
        if state.token is not None and self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._error(401, "Bad credentials")
        if state.fault == "rate-limit":
            return self._error(403, "API rate limit exceeded for 127.0.0.1.", limits)
        if state.secondary > 0:
            state.secondary -= 1
            headers = dict(limits)
            if state.secondary_retry_after is not None:
                headers["retry-after"] = state.secondary_retry_after
            return self._error(state.secondary_status, "You have exceeded a secondary rate limit. Please wait a few "
                                                       "minutes before you try again.", headers)
        parts = url.path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "repos":
            return self._error(404, "Not Found")
        repository = f"{parts[1]}/{parts[2]}"
        if repository not in state.repositories:
            return self._error(404, "Not Found")
        releases = state.repositories[repository]
        if parts[3:] == ["releases"]:
            return self._releases(repository, releases, query, limits)
        if parts[3] == "commits" and len(parts) == 5:
            tag = urllib.parse.unquote(parts[4])
            if state.release(repository, tag) is None:
                return self._error(422, f"No commit found for SHA: {tag}")
            sha = state.commits.get((repository, tag), commit_of(repository, tag))
            if self.headers.get("Accept") == "application/vnd.github.sha":
                return self._send(200, sha.encode(), "application/vnd.github.sha; charset=utf-8", limits)
            return self._send(200, json.dumps({"sha": sha, "commit": {"message": tag}}).encode(), headers=limits)
        if parts[3] == "contents" and parts[4:] == ["go.mod"]:
            release = state.release(repository, query.get("ref", ""))
            if release is None:
                return self._error(404, "Not Found")
            text = go_mod(release.go).encode()
            if self.headers.get("Accept") == "application/vnd.github.raw+json":
                return self._send(200, text, "application/vnd.github.raw+json; charset=utf-8", limits)
            return self._send(200, json.dumps({"type": "file", "name": "go.mod", "path": "go.mod", "encoding": "base64",
                                               "content": base64.b64encode(text).decode()}).encode(), headers=limits)
        return self._error(404, "Not Found")

    def _releases(self, repository: str, releases: list[StandinRelease], query: dict, limits: dict) -> None:
        state = self.server.state
        per_page = min(int(query.get("per_page", "30")), 100, state.page_size)
        page = int(query.get("page", "1"))
        # Newest first, as GitHub lists them (by creation).
        ordered = list(reversed(releases))
        chunk = ordered[(page - 1) * per_page:page * per_page]
        body = [{"url": f"{self.server.url}/repos/{repository}/releases/{i}", "id": i, "tag_name": r.tag,
                 "target_commitish": "main", "name": r.tag, "draft": r.draft, "prerelease": r.prerelease,
                 "created_at": r.published_at, "published_at": None if r.draft else r.published_at,
                 "assets": [], "body": f"Release {r.tag}"}
                for i, r in enumerate(chunk, start=(page - 1) * per_page + 1)]
        headers = dict(limits)
        last = max(1, -(-len(ordered) // per_page))
        links = []
        base = f"{self.server.url if state.link_base is None else state.link_base}/repos/{repository}/releases"
        if page < last:
            links.append(f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"')
            links.append(f'<{base}?per_page={per_page}&page=1>; rel="first"')
        if links:
            headers["Link"] = ", ".join(links)
        self._send(200, json.dumps(body).encode(), headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: GitHubState
    url: str

    def handle_error(self, request, client_address) -> None:  # a client that hung up is no test failure
        pass


class GitHubStandin(ServedInThread):
    """``with GitHubStandin(state) as api:`` serves on ``api.url`` until the block ends."""

    def __init__(self, state: GitHubState):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.state = state
        self.url = self.server.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.state = state


ARGO = "argoproj/argo-workflows"


def argo_state(token: str | None = None) -> GitHubState:
    """Upstream's releases as the project's matrix knows them, with older series, a release candidate of a
    newer one, and a draft around them (oldest first)."""
    releases = [
        StandinRelease("v3.6.9", "1.24.1", published_at="2025-05-01T00:00:00Z"),
        StandinRelease("v3.7.17", "1.25.7", published_at="2025-12-01T00:00:00Z"),
        StandinRelease("v3.7.18", "1.25.7", published_at="2026-01-10T00:00:00Z"),
        StandinRelease("v4.0.9", "1.25.12", published_at="2025-12-15T00:00:00Z"),
        StandinRelease("v4.0.10", "1.25.12", published_at="2026-01-12T00:00:00Z"),
        StandinRelease("v4.1.1", "1.26.5", published_at="2026-01-05T00:00:00Z"),
        StandinRelease("v4.1.2", "1.26.5", published_at="2026-01-20T00:00:00Z"),
        StandinRelease("v4.2.0-rc1", "1.26.5", prerelease=True, published_at="2026-02-01T00:00:00Z"),
        StandinRelease("v4.2.0", "1.26.5", draft=True, published_at="2026-02-02T00:00:00Z"),
    ]
    return GitHubState({ARGO: releases}, token=token)
