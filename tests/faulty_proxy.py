"""A proxy on 127.0.0.1 in front of the suite's real registry that injects failures on demand.

Faults apply to requests whose method and path match: answer 503 (``status``), read part of
the request body and drop the connection without an answer (``drop``), corrupt the answer
(``corrupt``), send the answer's headers (with the full Content-Length) and only the first
``fraction`` of its body before closing the connection (``cut``: a download broken off midway),
forward the request without its ``Range`` header (``ignore_range``: a registry that answers
every GET with the whole blob), replace the answer's body with ``rewrite(body)`` and drop the
headers named in ``strip`` (``rewrite``: a tampering man in the middle; the registry's headers,
``Docker-Content-Digest`` among them, go through unless stripped), hold the request without
forwarding it for ``seconds`` or until the proxy closes, then drop the connection (``stall``: a
registry that stops answering), or forward it and hold its answer ``seconds`` before sending it
(``slow``: the registry has done the work, the client learns it late), for the first ``times``
matching requests (``times=None``: always). Everything else is forwarded unchanged, with the
client's Host header, so the registry's upload Locations point back through the proxy.

``log`` has ``(method, path, status)`` for every request once it is answered: -1 for a dropped
connection, -2 for a cut-off answer, -3 for a stalled request (logged as soon as it is held).
``ranges`` has ``(path, Range header)`` for every request that had one.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.http_body import read_body


@dataclass
class Fault:
    method: str
    path: str  # a regular expression
    # "status", "drop", "corrupt" (forward, then flip a byte of the answer), "cut", "ignore_range", "rewrite",
    # "stall", "slow"
    kind: str
    times: int | None = 1
    status: int = 503
    fraction: float = 0.5  # "cut": the part of the body sent before the connection closes
    rewrite: Callable[[bytes], bytes] | None = None  # "rewrite": the body the client gets instead
    strip: tuple[str, ...] = ()  # "rewrite": answer headers left out
    seconds: float = 3600.0  # "stall", "slow": how long the request or its answer is held
    hits: int = 0

    def applies(self, method: str, path: str) -> bool:
        if method != self.method or not re.search(self.path, path):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass
class ProxyState:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    ranges: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)  # releases held requests
    active: int = 0  # requests being handled


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall each
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def _handle(self) -> None:
        state = self.server.state
        with state.lock:
            state.active += 1
        try:
            self._forward(state)
        finally:
            with state.lock:
                state.active -= 1

    def _forward(self, state: ProxyState) -> None:
        with state.lock:
            fault = next((f for f in state.faults if f.applies(self.command, self.path)), None)
            if self.headers.get("Range"):
                state.ranges.append((self.path, self.headers["Range"]))
        if fault is not None and fault.kind == "drop":
            read_body(self, limit=1024)
            state.log.append((self.command, self.path, -1))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = read_body(self)
        if fault is not None and fault.kind == "stall":
            state.log.append((self.command, self.path, -3))
            state.closing.wait(fault.seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client gave up first
            return
        if fault is not None and fault.kind == "status":
            state.log.append((self.command, self.path, fault.status))
            message = b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}'
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        dropped = {"content-length", "transfer-encoding"}
        if fault is not None and fault.kind == "ignore_range":
            dropped.add("range")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        response = requests.request(self.command, state.upstream + self.path, headers=headers, data=body or None,
                                    allow_redirects=False, stream=True, timeout=60)
        content = response.raw.read()
        if fault is not None and fault.kind == "corrupt" and content:
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        skipped = {"content-length", "transfer-encoding", "connection", "content-encoding"}
        if fault is not None and fault.kind == "rewrite":
            content = fault.rewrite(content) if fault.rewrite else content
            skipped.update(name.lower() for name in fault.strip)
        if fault is not None and fault.kind == "slow":
            state.closing.wait(fault.seconds)
        cut = fault is not None and fault.kind == "cut" and self.command == "GET" and len(content) > 1
        state.log.append((self.command, self.path, -2 if cut else response.status_code))
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in skipped:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if cut:
            self.wfile.write(content[:max(1, int(len(content) * fault.fraction))])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ProxyState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client went away (killed, or gave up on a held answer): nothing to report
        super().handle_error(request, client_address)


class FaultyProxy:
    def __init__(self, upstream_url: str):
        self.state = ProxyState(upstream_url)
        self.server = _Server(self.state)
        # shutdown() waits for serve_forever to look up: every 50 ms rather than the default 500 ms.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def inject(self, fault: Fault) -> Fault:
        self.state.faults.append(fault)
        return fault

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.state.closing.set()
        self.server.shutdown()
        self.server.server_close()
        # Requests still being forwarded finish first, so that the registry's log is complete when this returns.
        deadline = time.monotonic() + 30
        while self.state.active and time.monotonic() < deadline:
            time.sleep(0.02)
