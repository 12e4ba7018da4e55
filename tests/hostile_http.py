"""A hostile HTTP server on 127.0.0.1: it answers every GET with a body built to hurt the client.

Every answer here is constructed. The modes:

- ``huge``: a 200 with ``Content-Length: size`` and that many bytes (``fill``, repeated), sent as fast as
  the client reads them; ``sent`` counts what went out before the client hung up.
- ``drip``: a 200 with the headers at once, then one byte of the body every ``interval`` seconds
  (each read of the client succeeds within any per-read timeout; the answer never ends in time).
- ``drip-headers``: the status line and headers themselves one byte every ``interval`` seconds.
- ``lines``: a 200 whose body is ``prefix`` then ``size`` bytes of ``fill`` and no newline (a log
  stream whose one line never ends).

``headers`` are added to each answer; ``requests`` counts the requests.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.http_body import ServedInThread


@dataclass
class Hostile:
    mode: str = "huge"
    size: int = 300 << 20
    fill: bytes = b"x"
    interval: float = 0.5
    prefix: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    sent: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        state = self.server.state
        state.requests += 1
        stop = self.server.stopping
        try:
            if state.mode == "drip-headers":
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: {state.content_type}\r\nContent-Length: 2\r\n"
                        "X-Padding: " + "p" * 200 + "\r\n\r\n{}").encode()
                for byte in head:
                    if stop.wait(state.interval):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                return
            self.send_response(200)
            self.send_header("Content-Type", state.content_type)
            for name, value in state.headers.items():
                self.send_header(name, value)
            if state.mode == "lines":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunk(state.prefix)
                self._stream(state.size, chunked=True)
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(state.size + len(state.prefix)))
            self.end_headers()
            self.wfile.write(state.prefix)
            if state.mode == "drip":
                for _ in range(state.size):
                    if stop.wait(state.interval):
                        return
                    self.wfile.write(state.fill[:1])
                    self.wfile.flush()
                    state.sent += 1
                return
            self._stream(state.size)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a bounded client does

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _stream(self, size: int, chunked: bool = False) -> None:
        state = self.server.state
        block = (state.fill * (65536 // len(state.fill) + 1))[:65536]
        left = size
        while left > 0 and not self.server.stopping.is_set():
            piece = block[:left]
            if chunked:
                self._chunk(piece)
            else:
                self.wfile.write(piece)
            left -= len(piece)
            state.sent += len(piece)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: Hostile
    stopping: threading.Event

    def handle_error(self, request, client_address) -> None:
        pass


class HostileServer(ServedInThread):
    """``with HostileServer(Hostile(...)) as server:`` serves on ``server.url`` (``server.host``)."""

    def __init__(self, state: Hostile):
        self.state = state
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.state = state
        self.server.stopping = threading.Event()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"

    def _stopping(self) -> None:
        self.server.stopping.set()  # answers still dripping end


def elapsed(function) -> tuple[float, object]:
    """(seconds, what ``function()`` raised or returned)."""
    started = time.monotonic()
    try:
        result = function()
    except Exception as exc:  # noqa: BLE001 - the caller inspects it
        result = exc
    return time.monotonic() - started, result


class SilentServer:
    """A listening socket (TCP on 127.0.0.1, or a unix socket) that accepts every connection and never answers:
    an engine that hangs, or a registry behind a stuck proxy. ``accepted`` is set once a client connected."""

    def __init__(self, unix_path=None):
        if unix_path is None:
            self.server = socket.create_server(("127.0.0.1", 0))
            self.port = self.server.getsockname()[1]
        else:
            self.server = socket.socket(socket.AF_UNIX)
            self.server.bind(str(unix_path))
            self.server.listen(8)
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)
            self.accepted.set()

    def close(self):
        self.server.close()
        for connection in self.held:
            connection.close()
