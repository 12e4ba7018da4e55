"""The registry transport against the suite's real registry, through the fault-injecting proxy:
blob reads cut off midway, the one retry policy, and a registrytoken sent as it is.

docker-registry (distribution) serves blobs with Go's http.ServeContent, so it answers a
``Range: bytes=N-`` request with 206 Partial Content, as the OCI distribution spec says a
registry SHOULD; ``ignore_range`` in the proxy plays a registry that does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builder.errors import Unreachable
from builder.registry import DigestMismatch, Reference, RegistryClient, RetryPolicy, Stats, docker_credentials
from builder.retry import TryAgain, retry_after_s
from tests.faulty_proxy import Fault, FaultyProxy

REPOSITORY = "transport/blob"
SIZE = 3 * (1 << 20) + 12345  # several of the client's 1 MiB chunks, and not a multiple of them


@pytest.fixture(scope="module")
def blob(registry):
    data = os.urandom(SIZE)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    RegistryClient().upload_blob(registry.host, REPOSITORY, digest, len(data), lambda: data)
    return data, digest


def _client(attempts: int = 5) -> RegistryClient:
    return RegistryClient(attempts=attempts, backoff_s=0.01)


def _blob_log(proxy: FaultyProxy, digest: str) -> list[int]:
    return [status for method, path, status in proxy.state.log if method == "GET" and path.endswith(digest)]


def test_a_blob_read_cut_off_midway_resumes_with_a_range_request(registry, blob):
    data, digest = blob
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{digest}", "cut", times=1))
        client = _client()
        received = client.get_blob(proxy.host, REPOSITORY, digest)
    assert received == data
    assert _blob_log(proxy, digest) == [-2, 206]
    ((path, asked),) = proxy.state.ranges
    offset = int(asked.removeprefix("bytes=").removesuffix("-"))
    assert path.endswith(digest) and 0 < offset < SIZE  # only the rest was asked for
    assert (client.stats.resumed, client.stats.retries) == (1, 1)


def test_a_registry_that_ignores_range_is_read_again_from_the_start(registry, blob, tmp_path):
    data, digest = blob
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{digest}", "cut", times=1, fraction=0.7))
        proxy.inject(Fault("GET", rf"/blobs/{digest}", "ignore_range", times=1))
        client = _client()
        client.download_blob(proxy.host, REPOSITORY, digest, tmp_path / "blob")
    assert (tmp_path / "blob").read_bytes() == data  # each byte once, though two answers began with it
    assert _blob_log(proxy, digest) == [-2, 200]
    assert (client.stats.resumed, client.stats.retries) == (0, 1)


def test_a_resumed_read_whose_second_half_is_corrupted_is_a_digest_mismatch(registry, blob):
    _, digest = blob
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{digest}", "cut", times=1))
        proxy.inject(Fault("GET", rf"/blobs/{digest}", "corrupt", times=1))  # flips the 206 body's first byte
        with pytest.raises(DigestMismatch, match=f"blob {digest} arrived with another digest"):
            _client().get_blob(proxy.host, REPOSITORY, digest)
    assert _blob_log(proxy, digest) == [-2, 206]


def test_a_read_cut_off_every_time_gives_up_after_the_true_number_of_attempts(registry, blob):
    _, digest = blob
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{digest}", "cut", times=None, fraction=0.2))
        client = _client(attempts=3)
        with pytest.raises(Unreachable) as caught:
            client.get_blob(proxy.host, REPOSITORY, digest)
    assert _blob_log(proxy, digest) == [-2, -2, -2]
    assert str(caught.value).startswith(f"registry {proxy.host}: get blob {digest[:19]} (cut off after ")
    assert "failed after 3 attempts" in str(caught.value)
    # Each attempt asked only for what was still missing.
    offsets = [int(r.removeprefix("bytes=").removesuffix("-")) for _, r in proxy.state.ranges]
    assert len(offsets) == 2 and 0 < offsets[0] < offsets[1] < SIZE


def test_a_busy_registry_counts_every_attempt_in_its_message(registry, blob):
    _, digest = blob
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("HEAD", rf"/blobs/{digest}", "status", times=None, status=503))
        with pytest.raises(Unreachable) as caught:
            _client(attempts=4).blob_exists(proxy.host, REPOSITORY, digest)
    assert str(caught.value) == (f"registry {proxy.host}: check blob {digest[:19]} failed after 4 attempts "
                                 "(the last answered 503); try again later")


@pytest.mark.parametrize(("kind", "why"), [("status", "(the last answered 503); try again later"),
                                           ("drop", "; check that it is up and reachable")])
def test_an_upload_that_keeps_failing_counts_every_attempt_in_its_message(registry, kind, why):
    """Each attempt is a whole upload (POST, then PUT); the message says how many there were, not "1"."""
    data = os.urandom(1000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("PUT", r"/blobs/uploads/", kind, times=None))
        with pytest.raises(Unreachable) as caught:
            _client(attempts=3).upload_blob(proxy.host, REPOSITORY, digest, len(data), lambda: data)
    message = str(caught.value)
    assert message.startswith(f"registry {proxy.host}: upload blob {digest[:19]} failed after 3 attempts ")
    assert message.endswith(why)
    methods = [method for method, path, _ in proxy.state.log if "/blobs/uploads/" in path]
    assert methods == ["POST", "PUT"] * 3

def test_the_retry_policy_waits_as_long_as_retry_after_asks():
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.5, stats=Stats(), sleep=waits.append)
    outcomes = iter([TryAgain(lambda n: Unreachable(f"{n}"), "3"), TryAgain(lambda n: Unreachable(f"{n}"), None)])

    def attempt() -> str:
        failure = next(outcomes, None)
        if failure is not None:
            raise failure
        return "done"

    assert policy.run(attempt) == "done"
    assert waits == [3.0, 1.0]  # max(backoff, Retry-After), then the doubled backoff
    assert policy.stats.retries == 2
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    assert 15 < retry_after_s(later) <= 20
    assert policy.delay(1, "3600") == 30.0  # capped
    assert retry_after_s("soon") is None


class _TokenOnly(BaseHTTPRequestHandler):
    """A registry that wants ``Authorization: Bearer the-registry-token`` and has a token service
    that must never be asked."""

    token_requests = 0

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/token"):
            type(self).token_requests += 1
            self.send_response(500)
        elif self.headers.get("Authorization") == "Bearer the-registry-token":
            self.send_response(200)
            self.send_header("Docker-Content-Digest", "sha256:" + "0" * 64)
        else:
            host = self.headers["Host"]
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://{host}/token",service="suite"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD


def test_a_registrytoken_from_the_docker_config_is_sent_as_a_bearer_token(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenOnly)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"auths": {host: {"registrytoken": "the-registry-token"}}}))
        client = RegistryClient(credentials=lambda registry: docker_credentials(registry, config))
        assert client.head_manifest(Reference(host, "x/y", "1")) == "sha256:" + "0" * 64
        assert _TokenOnly.token_requests == 0
        assert "the-registry-token" not in repr(docker_credentials(host, config))
    finally:
        server.shutdown()
        server.server_close()

