"""The plumbing of the suite's small HTTP servers: reading a request body (chunked or with a Content-Length),
answering JSON, and serving from a thread of its own while a ``with`` block runs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler


def read_body(handler: BaseHTTPRequestHandler, limit: int | None = None) -> bytes:
    """The request body; with ``limit``, at most that many bytes of a Content-Length body."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(handler.rfile.readline().strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(min(length, limit) if limit is not None else length)


def send_json(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    """Answer ``status`` with ``body`` as JSON, with its Content-Length."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class ServedInThread:
    """A stand-in whose ``self.server`` (an HTTP server on 127.0.0.1, made in ``__init__``) serves from a daemon
    thread while its ``with`` block runs; ``_stopping`` runs first at the end (a server whose answers are still
    dripping is told to stop)."""

    server: object

    def __enter__(self):
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)  # type: ignore[attr-defined]
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping()
        self.server.shutdown()  # type: ignore[attr-defined]
        self.server.server_close()  # type: ignore[attr-defined]
        self._thread.join(10)

    def _stopping(self) -> None:
        pass
