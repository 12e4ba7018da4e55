"""Reading a small input file (matrix.yaml, the Docker config) without trusting what its path names.

A path a user gives may name a FIFO (opening it waits for a writer, and reading it may never end), a
device (``/dev/zero`` never ends), a folder, or a regular file far larger than any real input.
``read_small_text`` reads a regular file of at most ``limit`` bytes and refuses anything else with a
phrase a one-line message can carry, before reading a byte of it. ``write_atomically`` is the other
way: a file written whole, under a temporary name no concurrent writer shares, never through a link.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import time
import uuid
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


# A temporary file this old is a leftover of a run that was killed (SIGKILL, a power cut): no writer takes
# anywhere near this long, so removing it never takes a live writer's file.
STALE_PART_S = 3600.0


def sweep_stale_parts(path: Path) -> None:
    """Remove the leftover temporary files of ``path`` (``.NAME.<hex>.part``, older than STALE_PART_S)."""
    now = time.time()
    try:
        leftovers = list(path.parent.glob(f".{glob.escape(path.name)}.*.part"))
    except OSError:
        return
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            if leftover.is_file() and not leftover.is_symlink() and now - leftover.lstat().st_mtime > STALE_PART_S:
                leftover.unlink()


def write_atomically(path: Path, text: str | bytes) -> None:
    """Write ``path`` (text as UTF-8, or bytes) whole or not at all: a temporary file in the same folder, then
    ``os.replace``.

    Readers never see half a file. The temporary name is unique (created with O_EXCL), so writers running
    at once never write into each other's file; the last replace wins, whole. A symbolic link at ``path``
    is replaced, never followed. The file keeps the mode of the one it replaces, else gets a new file's
    (0666 less the umask), as a plain write would."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    sweep_stale_parts(path)
    while True:
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:16]}.part")
        try:
            fd = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
    try:
        if isinstance(text, str):
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
        else:
            with os.fdopen(fd, "wb") as binary:
                binary.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
