"""gzip on every core, with the same bytes for any number of cores: one gzip member, built the way pigz builds it.

The uncompressed stream is cut into fixed-size blocks (every ``block_size`` bytes from the start of
the stream, whatever the sizes of the writes and however many threads there are). Each block is
deflated on its own in a thread pool; zlib releases the GIL while it deflates, so the blocks really
are compressed in parallel. pigz's manual (pigz(1), "DESCRIPTION") documents the approach followed
here:

- each block is a partial raw deflate stream ended by an empty stored block (zlib's Z_SYNC_FLUSH),
  which ends the bit stream on a byte boundary, so the partial streams are concatenated as bytes
  (four to five bytes of overhead per block);
- each block is compressed with the last 32 KiB before it loaded as a preset dictionary, which keeps
  the ratio close to deflating in a single thread;
- the partial streams are written in order and wrapped in one header and one trailer.

Formats (facts this module relies on):

- RFC 1951 (DEFLATE) 3.2.3: a stream is a sequence of blocks, the last one with BFINAL set; 3.2.4:
  a stored block starts on a byte boundary and has LEN and NLEN, so the empty one Z_SYNC_FLUSH emits
  is ``00 00 FF FF`` after the block header bits. 3.2.5 and 2: distances reach back at most 32768
  bytes, across block boundaries, so a block compressed with the preceding 32 KiB as its dictionary
  decodes correctly when it follows those bytes in one stream.
- zlib manual: Z_SYNC_FLUSH "aligns the output on a byte boundary" by emitting an empty stored block;
  Z_FINISH ends the stream (the last block gets BFINAL). ``deflateSetDictionary`` (``zdict`` in
  Python's ``zlib.compressobj``) presets the history the compressor may refer back to; a raw stream
  (negative windowBits) carries no dictionary id, the decompressor simply must have those bytes as
  history, which it has here since they are the preceding output of the same stream.
- RFC 1952 (GZIP) 2.3: one member is a 10-byte header (ID1 ID2 CM FLG MTIME XFL OS), the deflate
  data, then CRC32 and ISIZE (input size mod 2**32), both little-endian. The header here is fixed:
  no FNAME/FEXTRA/FCOMMENT, MTIME 0, OS 255 ("unknown", what Python's gzip writes), so the bytes do
  not depend on the time or the platform.

The CRC32 of the trailer is computed sequentially over the input as it is cut into blocks (cheap, and
``zlib.crc32`` releases the GIL for large buffers); pigz combines per-block check values instead.

Memory is bounded: at most ``2 * workers`` blocks (input and output) are in flight; the writer waits
for the oldest one when more are queued. ``flush()`` does not cut a block (a flush point would make the
bytes depend on when callers flush).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

BLOCK_SIZE = 512 * 1024  # pigz's default is 128 KiB; larger blocks spend less on dictionaries and per-block setup
WINDOW = 32 * 1024  # RFC 1951: the largest distance a deflate back-reference can reach

# RFC 1952 2.3: ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0; XFL and OS follow (XFL depends on the level).
_MAGIC = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
_OS_UNKNOWN = b"\xff"


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def gzip_header(compresslevel: int) -> bytes:
    """The fixed member header. XFL as RFC 1952 2.3.1 defines it (2: slowest, 4: fastest), as Python's gzip sets it."""
    xfl = b"\x02" if compresslevel == 9 else b"\x04" if compresslevel == 1 else b"\x00"
    return _MAGIC + xfl + _OS_UNKNOWN


def _deflate(block: bytes, history: bytes, level: int, last: bool) -> bytes:
    """One block as a piece of a raw deflate stream (wbits -15: no zlib or gzip wrapper).

    Depends on nothing but its arguments, so the bytes do not depend on which thread ran it."""
    if history:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zlib.DEF_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, history)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zlib.DEF_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY)
    return compressor.compress(block) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class ParallelGzipWriter(io.RawIOBase):
    """A writable binary file that gzips what is written into ``fileobj`` on ``workers`` threads.

    The output is one gzip member whose bytes depend only on the data, ``compresslevel`` and
    ``block_size``: not on ``workers`` nor on how the data was split into writes. ``close()`` (or
    leaving a ``with`` block normally) writes the last block and the trailer; leaving a ``with``
    block on an exception stops without writing them. ``fileobj`` is not closed.
    """

    def __init__(self, fileobj: _Writable, compresslevel: int = 6, *, workers: int | None = None,
                 block_size: int = BLOCK_SIZE):
        super().__init__()
        if not 0 <= compresslevel <= 9:
            raise ValueError(f"compresslevel must be 0..9, not {compresslevel}")
        if block_size < 1:
            raise ValueError(f"block_size must be positive, not {block_size}")
        self._out = fileobj
        self._level = compresslevel
        self._block_size = block_size
        self._workers = workers if workers is not None else default_workers()
        if self._workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        # One worker: deflate in the caller's thread (truly single-core, and no thread to start).
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="pgzip") if self._workers > 1 else None
        self._pending: deque[Future[bytes]] = deque()
        self._buffer = bytearray()
        self._history = b""  # the last WINDOW bytes of the input before the next block
        self._crc = 0
        self._size = 0
        self._out.write(gzip_header(compresslevel))

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed ParallelGzipWriter")
        with memoryview(data) as raw, raw.cast("B") as view:
            start, total = 0, len(view)
            while start < total:
                # A full block goes out only once more data follows it: the one left at close() is the last.
                if len(self._buffer) == self._block_size:
                    self._submit(bytes(self._buffer), last=False)
                    self._buffer.clear()
                take = min(self._block_size - len(self._buffer), total - start)
                self._buffer += view[start:start + take]
                start += take
        return total

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._submit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._drain(0)
            self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        finally:
            self._stop()
            super().close()

    def abort(self) -> None:
        """Stop without writing the rest: what was written so far is not a complete gzip member."""
        if not self.closed:
            self._stop()
            super().close()

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _submit(self, block: bytes, last: bool) -> None:
        self._crc = zlib.crc32(block, self._crc)
        self._size += len(block)
        history = self._history
        self._history = block[-WINDOW:] if len(block) >= WINDOW else (history + block)[-WINDOW:]
        if self._pool is None:
            self._out.write(_deflate(block, history, self._level, last))
            return
        self._pending.append(self._pool.submit(_deflate, block, history, self._level, last))
        self._drain(2 * self._workers)

    def _drain(self, keep: int) -> None:
        """Write finished blocks in order; wait for the oldest while more than ``keep`` are in flight."""
        while self._pending and (len(self._pending) > keep or self._pending[0].done()):
            self._out.write(self._pending.popleft().result())

    def _stop(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def compress(data: bytes, compresslevel: int = 6, *, workers: int | None = None, block_size: int = BLOCK_SIZE) -> bytes:
    """``data`` as one gzip member (see ``ParallelGzipWriter``)."""
    out = io.BytesIO()
    with ParallelGzipWriter(out, compresslevel, workers=workers, block_size=block_size) as writer:
        writer.write(data)
    return out.getvalue()
