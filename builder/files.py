"""Reading a small input file (matrix.yaml, the Docker config) without trusting what its path names.

A path a user gives may name a FIFO (opening it waits for a writer, and reading it may never end), a
device (``/dev/zero`` never ends), a folder, or a regular file far larger than any real input.
``read_small_text`` reads a regular file of at most ``limit`` bytes and refuses anything else with a
phrase a one-line message can carry, before reading a byte of it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class FileRefused(Exception):
    """The path names no regular file of a sane size; ``str()`` says why, as a phrase."""


def read_small_text(path: Path | str, limit: int) -> str:
    """The UTF-8 text of the regular file at ``path``, of at most ``limit`` bytes.

    Raises ``FileRefused`` for anything else, and lets the errors of opening and decoding through
    (``FileNotFoundError`` and the other ``OSError``, ``UnicodeDecodeError``)."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer before fstat could say what it is.
    # (Windows has no O_NONBLOCK, and no FIFO a path can name.)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            kind = next((name for test, name in _KINDS if test(mode.st_mode)), "not a regular file")
            raise FileRefused(f"{kind}, not a regular file")
        data = handle.read(limit + 1)  # never more than the limit, even if the file grows while it is read
    if mode.st_size > limit or len(data) > limit:
        raise FileRefused(f"larger than {_size(limit)}, far more than such a file ever needs")
    return data.decode("utf-8")


def _size(limit: int) -> str:
    return f"{limit // (1 << 20)} MB" if limit % (1 << 20) == 0 else f"{limit} bytes"

