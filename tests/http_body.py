"""Reading a request body in the suite's small HTTP servers (chunked or with a Content-Length)."""

from __future__ import annotations

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
