"""A referrers-capable registry for the tests: a proxy on 127.0.0.1 in front of the suite's real registry.

Debian's docker-registry 2.8 predates the OCI distribution spec 1.1 and has no referrers API (it
answers 404 to ``/v2/<name>/referrers/<digest>``). This stand-in adds what the spec asks of a
registry that has one, and forwards everything else unchanged (with the client's Host header, so
upload Locations point back through it):

- "Pushing Manifests with Subject": a manifest PUT that the registry accepts (201) and whose body has
  a ``subject`` is answered with ``OCI-Subject: <subject digest>``, and remembered as a referrer of
  that digest in that repository;
- "Listing Referrers": ``GET /v2/<name>/referrers/<digest>`` answers 200 with an OCI image index
  (``Content-Type: application/vnd.oci.image.index.v1+json``) of the descriptors of those manifests:
  ``mediaType``, ``digest``, ``size``, ``artifactType`` (the manifest's, else its config's media
  type) and the manifest's ``annotations``; an empty list when there are none (never 404); 400 for a
  malformed digest. ``?artifactType=`` is applied, with ``OCI-Filters-Applied: artifactType``, when
  ``apply_filter`` is set (the spec says SHOULD: a registry that ignores it is also conformant, and
  ``apply_filter=False`` plays that one). With ``page_size``, the list comes in pages linked by
  ``Link: <...>; rel="next"`` (RFC 5988), as the spec requires when one answer cannot hold it.

``log`` has ``(method, path, status)`` for every request answered.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.http_body import read_body

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_REFERRERS_RE = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/?]*)$")
_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/?]+)$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass
class ReferrersState:
    upstream: str
    apply_filter: bool = True
    page_size: int | None = None
    referrers: dict[tuple[str, str], dict[str, dict]] = field(default_factory=dict)  # (name, subject) -> by digest
    log: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def _handle(self) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        listing = _REFERRERS_RE.match(url.path)
        if listing and self.command == "GET":
            self._referrers(state, listing["name"], listing["digest"], urllib.parse.parse_qs(url.query))
            return
        body = read_body(self)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        response = requests.request(self.command, state.upstream + self.path, headers=headers, data=body or None,
                                    allow_redirects=False, stream=True, timeout=60)
        content = response.raw.read()
        extra = {}
        pushed = _MANIFEST_RE.match(url.path)
        if pushed and self.command == "PUT" and response.status_code == 201:
            subject = self._remember(state, pushed["name"], body)
            if subject:
                extra["OCI-Subject"] = subject
        with state.lock:
            state.log.append((self.command, self.path, response.status_code))
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(key, value)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    @staticmethod
    def _remember(state: ReferrersState, name: str, body: bytes) -> str | None:
        """The subject digest of a pushed manifest (remembered as its referrer), or None if it has none."""
        try:
            manifest = json.loads(body)
        except ValueError:
            return None
        subject = manifest.get("subject") if isinstance(manifest, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return None
        artifact_type = manifest.get("artifactType") or manifest.get("config", {}).get("mediaType")
        descriptor = {"mediaType": manifest.get("mediaType"), "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                      "size": len(body)}
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if manifest.get("annotations"):
            descriptor["annotations"] = manifest["annotations"]
        with state.lock:
            state.referrers.setdefault((name, subject["digest"]), {})[descriptor["digest"]] = descriptor
        return subject["digest"]

    def _referrers(self, state: ReferrersState, name: str, digest: str, query: dict[str, list[str]]) -> None:
        if not _DIGEST_RE.match(digest):
            self._answer(state, 400, b'{"errors":[{"code":"DIGEST_INVALID","message":"invalid digest"}]}',
                         "application/json")
            return
        with state.lock:
            found = list(state.referrers.get((name, digest), {}).values())
        headers = {}
        wanted = query.get("artifactType", [None])[0]
        if wanted and state.apply_filter:
            found = [d for d in found if d.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        if state.page_size:
            start = int(query.get("last", ["0"])[0])
            if start + state.page_size < len(found):
                following = {**{k: v[0] for k, v in query.items()}, "last": str(start + state.page_size)}
                headers["Link"] = f'</v2/{name}/referrers/{digest}?{urllib.parse.urlencode(following)}>; rel="next"'
            found = found[start:start + state.page_size]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
        self._answer(state, 200, json.dumps(index).encode(), OCI_INDEX, headers)

    def _answer(self, state: ReferrersState, status: int, content: bytes, content_type: str,
                headers: dict[str, str] | None = None) -> None:
        with state.lock:
            state.log.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ReferrersState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class ReferrersProxy:
    def __init__(self, upstream_url: str, apply_filter: bool = True, page_size: int | None = None):
        self.state = ReferrersState(upstream_url, apply_filter, page_size)
        self.server = _Server(self.state)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    @property
    def log(self) -> list[tuple[str, str, int]]:
        return self.state.log

    def __enter__(self) -> ReferrersProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
