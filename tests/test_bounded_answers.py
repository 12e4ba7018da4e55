"""Every client of the tool against hostile servers on loopback (tests/hostile_http.py): answers far over
their limit are refused after reading the limit (memory stays small), and a server that drips its answer a
byte at a time costs one wall-clock deadline per attempt, not the run; a blob longer than its descriptor
says is refused at that size."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builder import github
from builder.cluster import ArgoClient
from builder.errors import ClusterError, RegistryError, Unreachable
from builder.github import ApiError, GitHub
from builder.registry import Reference, RegistryClient
from tests.hostile_http import Hostile, HostileServer, elapsed

pytestmark = pytest.mark.timeout(60)  # the code before the fix hangs on these servers: fail, do not hang
MB = 1 << 20


def _peak(function) -> tuple[object, int, float]:
    """(what ``function()`` raised or returned, the peak of Python's memory meanwhile, seconds)."""
    tracemalloc.start()
    try:
        seconds, result = elapsed(function)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, seconds


def test_a_huge_manifest_answer_is_refused_at_the_limit_with_little_memory():
    with HostileServer(Hostile("huge", size=120 * MB)) as server:
        client = RegistryClient(attempts=1, timeout_s=20)
        result, peak, _ = _peak(lambda: client.get_manifest(Reference.parse(f"{server.host}/repo:tag")))
    assert isinstance(result, RegistryError), result
    assert "an answer of more than 4194304 bytes" in str(result)
    assert peak < 40 * MB  # the old client held the whole 120 MB (and a copy) before looking at it


def test_a_blob_longer_than_its_descriptor_is_refused_at_the_descriptor_size():
    digest = "sha256:" + "ab" * 32
    with HostileServer(Hostile("huge", size=300 * MB)) as server:
        client = RegistryClient(attempts=1, timeout_s=20)
        result, peak, seconds = _peak(lambda: client.get_blob(server.host, "repo", digest, size=100))
    assert isinstance(result, RegistryError), result
    assert "longer than the 100 bytes its descriptor gives" in str(result)
    assert peak < 20 * MB
    assert seconds < 10


def test_a_blob_without_a_size_read_into_memory_is_bounded_too():
    digest = "sha256:" + "cd" * 32
    with HostileServer(Hostile("huge", size=300 * MB)) as server:
        client = RegistryClient(attempts=1, timeout_s=20)
        result, peak, _ = _peak(lambda: client.get_blob(server.host, "repo", digest))
    assert isinstance(result, RegistryError), result
    assert peak < 60 * MB


@pytest.mark.parametrize("mode", ["drip", "drip-headers"])
def test_a_dripping_registry_costs_one_deadline_per_attempt_and_says_how_many(mode):
    with HostileServer(Hostile(mode, size=10_000, interval=0.2)) as server:
        client = RegistryClient(attempts=2, backoff_s=0.01, timeout_s=1.5)
        seconds, result = elapsed(lambda: client.get_manifest(Reference.parse(f"{server.host}/repo:tag")))
        assert server.state.requests == 2
    assert isinstance(result, Unreachable), result
    assert "failed after 2 attempts (no whole answer within 1.5 s)" in str(result)
    assert seconds < 8


def test_a_dripping_blob_is_cut_off_by_its_deadline():
    digest = "sha256:" + "ef" * 32
    with HostileServer(Hostile("drip", size=10_000, interval=0.2)) as server:
        client = RegistryClient(attempts=1, timeout_s=1.0)
        seconds, result = elapsed(lambda: client.get_blob(server.host, "repo", digest, size=10_000))
    assert isinstance(result, Unreachable), result
    assert "no whole answer within" in str(result) and "after 1 attempts" in str(result)
    assert seconds < 8


def test_a_huge_github_answer_is_refused_with_little_memory():
    with HostileServer(Hostile("huge", size=120 * MB)) as server:
        api = GitHub(base_url=server.url, token=None, attempts=1)
        result, peak, _ = _peak(lambda: api.releases("argoproj/argo-workflows"))
    assert isinstance(result, ApiError), result
    assert "an answer of more than 4194304 bytes" in str(result)
    assert peak < 40 * MB


def test_a_dripping_github_costs_one_deadline_per_attempt(monkeypatch):
    monkeypatch.setattr(github, "TIMEOUT_S", 1.0)
    with HostileServer(Hostile("drip", size=10_000, interval=0.2)) as server:
        api = GitHub(base_url=server.url, token=None, attempts=2, sleep=lambda s: None)
        seconds, result = elapsed(lambda: api.releases("argoproj/argo-workflows"))
        assert server.state.requests == 2
    assert isinstance(result, Unreachable), result
    assert "failed after 2 attempts (no whole answer within 1 s)" in str(result)
    assert seconds < 8


def test_a_dripping_argo_server_is_cut_off():
    with HostileServer(Hostile("drip", size=10_000, interval=0.2)) as server:
        seconds, result = elapsed(lambda: ArgoClient(server.url, None, timeout_s=1.0).version())
    assert isinstance(result, Unreachable), result
    assert "sent no whole answer within 1 s" in str(result)
    assert seconds < 8


def test_a_huge_argo_server_answer_is_refused():
    with HostileServer(Hostile("huge", size=120 * MB)) as server:
        result, peak, _ = _peak(lambda: ArgoClient(server.url, None, timeout_s=20).version())
    assert isinstance(result, ClusterError), result
    assert peak < 40 * MB


def test_a_log_line_without_a_newline_stops_at_the_stream_cap():
    prefix = b'{"result":{"podName":"p","content":"'
    with HostileServer(Hostile("lines", size=20 * MB, prefix=prefix)) as server:
        seconds, read = elapsed(lambda: ArgoClient(server.url, None, timeout_s=30).logs("hello-windows-abc"))
    assert read.entries == []
    assert "without a newline" in read.problem
    assert seconds < 10  # iter_lines re-joined its buffer on every chunk: 20 MB ran past 200 s


def test_a_dripping_log_stream_ends_at_the_deadline_with_what_it_read():
    with HostileServer(Hostile("drip", size=10_000, interval=0.1,
                               prefix=b'{"result":{"podName":"p","content":"hello"}}\n')) as server:
        seconds, read = elapsed(lambda: ArgoClient(server.url, None, timeout_s=1.0).logs("hello-windows-abc"))
    assert [entry.content for entry in read.entries] == ["hello"]
    assert "no end within 1 s" in read.problem
    assert seconds < 8


# -- a registry's Docker-Content-Digest is checked before it is used

@pytest.mark.parametrize("header", ["sha256:NOT-A-DIGEST ...", "sha256:" + "A" * 64, "md5:abc", "sha256:" + "0" * 63])
def test_a_digest_header_that_is_no_digest_means_no_digest(header):
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "1" * 64, "size": 2}, "layers": []}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, with_body: bool):
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Docker-Content-Digest", header)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_HEAD(self):  # noqa: N802
            self._answer(False)

        def do_GET(self):  # noqa: N802
            self._answer(True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        digest = RegistryClient(attempts=1).head_manifest(Reference.parse(f"{host}/argoexec:v4.1.2"))
    finally:
        server.shutdown()
        server.server_close()
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()  # the bytes' digest, never the header


class _SlowReader(io.RawIOBase):
    """A blob read from a slow disk: each read waits. The upload takes longer than the registry timeout."""

    def __init__(self, data: bytes, pause: float):
        super().__init__()
        self.data, self.pause, self.offset = data, pause, 0

    def readable(self) -> bool:
        return True

    def __len__(self) -> int:  # requests sends a Content-Length body, as for the real file an upload reads
        return len(self.data)

    def tell(self) -> int:
        return self.offset

    def readinto(self, buffer) -> int:
        time.sleep(self.pause)
        piece = self.data[self.offset:self.offset + min(len(buffer), 8192)]
        buffer[:len(piece)] = piece
        self.offset += len(piece)
        return len(piece)


def test_an_upload_longer_than_the_deadline_is_not_cut_off(registry):
    """The deadline bounds the answer: it counts from when the request has gone, not from its first byte."""
    data = os.urandom(6 * 8192)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    client = RegistryClient(attempts=1, timeout_s=1.0)
    started = time.monotonic()
    client.upload_blob(registry.host, "suite/slow-upload", digest, len(data), lambda: _SlowReader(data, 0.3))
    assert time.monotonic() - started > 1.0  # it did take longer than the deadline
    assert client.get_blob(registry.host, "suite/slow-upload", digest, size=len(data)) == data
