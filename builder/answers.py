"""HTTP answers read within a size limit and a wall-clock deadline (every client of the tool: registries,
GitHub, the Argo Server).

Two limits requests does not give:

- **Size.** ``response.content`` reads a body whole before anyone can look at its length, so a server
  that answers gigabytes costs gigabytes of memory. ``read_limited`` streams the body and stops at the
  limit plus one byte: memory stays at the limit whatever the server sends, and ``TooLarge`` says so.
- **Time.** requests' ``timeout`` bounds each socket read (urllib3 sets it on the socket), not the
  answer: a server that sends a byte every few seconds never trips it. A ``Deadline`` is a wall-clock
  bound on one request, its headers and its body: a single watchdog thread shuts down the sockets the
  request used once the deadline passes (``socket.shutdown`` wakes a read blocked in another thread
  with end-of-file), and ``Deadline.check`` turns whatever the read made of that (an error, or a body
  cut short) into ``DeadlinePassed``.

The sockets are found through the connection classes of ``mount``: a session's adapters make
connections that register their socket with the deadline of the calling thread each time they wait
for an answer (``getresponse``, also on a kept-alive connection).
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

READ_CHUNK = 1 << 16


class TooLarge(Exception):
    """An answer longer than its limit; ``limit`` is the limit, the read stopped one byte past it."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class DeadlinePassed(Exception):
    """No whole answer within the deadline."""

    def __init__(self, seconds: float):
        super().__init__(f"no whole answer within {seconds:g} s")
        self.seconds = seconds


_local = threading.local()


def _stack() -> tuple[Deadline, ...]:
    """The calling thread's deadlines, outermost first: a socket is watched by each of them."""
    return getattr(_local, "stack", ())


class Deadline:
    """A wall-clock bound of ``seconds`` on one request and the reading of its answer.

    ``with Deadline(s):`` starts it, makes it the calling thread's (connections register their sockets
    with it) and ends it. A generator that reads a body after returning to its caller uses ``start``,
    ``registering()`` around the request only, and ``cancel``. With ``from_answer`` it counts from each
    time an answer is awaited, the request sent (an upload of a large body takes what it takes; a request
    sent again after a 401 gets a fresh window)."""

    def __init__(self, seconds: float, from_answer: bool = False):
        self.seconds = seconds
        self.from_answer = from_answer
        self.started = False
        self.at = 0.0
        self.expired = False
        self._cancelled = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> Deadline:
        with self._lock:
            first = not self.started
            if not first and not self.from_answer:
                return self
            self.started = True
            self.at = time.monotonic() + self.seconds
        if first:
            _WATCHDOG.add(self)
        return self

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._sockets.clear()

    def registering(self) -> Deadline:
        return _Registering(self)  # type: ignore[return-value]

    def __enter__(self) -> Deadline:
        if not self.from_answer:
            self.start()
        _local.stack = (*_stack(), self)
        return self

    def __exit__(self, *exc) -> None:
        _local.stack = tuple(d for d in _stack() if d is not self)
        self.cancel()

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        self.start()  # a no-op unless it waited for the answer (from_answer)
        with self._lock:
            if self._cancelled:
                return
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            if time.monotonic() < self.at:  # moved on since it was scheduled (from_answer): wait again
                _WATCHDOG.add(self)
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def check(self) -> None:
        """``DeadlinePassed`` if the deadline passed: what was read since may be cut short."""
        if self.expired:
            raise DeadlinePassed(self.seconds)


class _Registering:
    def __init__(self, deadline: Deadline):
        self.deadline = deadline

    def __enter__(self) -> Deadline:
        _local.stack = (*_stack(), self.deadline)
        return self.deadline

    def __exit__(self, *exc) -> None:
        stack = list(_stack())
        stack.reverse()
        stack.remove(self.deadline)
        stack.reverse()
        _local.stack = tuple(stack)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


class _Watchdog:
    """One daemon thread that expires deadlines in the order they fall due."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._count), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="answer-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()


class _Watched:
    """A connection that registers its socket with the thread's deadline whenever it awaits an answer."""

    def getresponse(self, *args, **kwargs):
        for deadline in _stack():
            deadline.watch(getattr(self, "sock", None))
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def mount(session: requests.Session) -> requests.Session:
    """``session`` with adapters whose connections a ``Deadline`` can cut off."""
    for prefix in ("http://", "https://"):
        if not isinstance(session.adapters.get(prefix), _Adapter):
            session.mount(prefix, _Adapter())
    return session


def iter_limited(response: requests.Response, limit: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
    """The body of a streamed answer as it arrives; ``TooLarge`` once it passes ``limit`` bytes
    (at most ``limit`` + 1 read, whatever the server sends)."""
    total = 0
    for chunk in response.iter_content(chunk_size):
        total += len(chunk)
        if total > limit:
            response.close()
            raise TooLarge(limit)
        yield chunk


def read_limited(response: requests.Response, limit: int) -> bytes:
    """The whole body of a streamed answer, at most ``limit`` bytes (``TooLarge`` beyond), kept as the
    response's content (``.content``, ``.json()`` and ``.text`` then read it from memory)."""
    body = b"".join(iter_limited(response, limit))
    response._content = body  # requests' own cache of a read body
    response._content_consumed = True  # type: ignore[attr-defined]  # private to requests: not in its stubs
    return body
