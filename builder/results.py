"""Results: one JSON record per check (build, argoexec-version, hello-windows), with its evidence.

Records are what the nightly matrix merges and what the compatibility table is made from. They
never contain secrets: every free-text field goes through ``secrets.redact``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from . import __version__
from .secrets import redact

PASS, FAIL, ERROR, NOT_RUNNABLE = "pass", "fail", "error", "not-runnable"
STATUSES = (PASS, FAIL, ERROR, NOT_RUNNABLE)
CHECK_BUILD = "build"
CHECK_VERSION = "argoexec-version"
CHECK_HELLO_WINDOWS = "hello-windows"
CHECK_HELLO_LINUX = "hello-linux"
LOG_EXCERPT_LIMIT = 4000
DEFAULT_DIR = Path("results")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def excerpt(log: str, limit: int = LOG_EXCERPT_LIMIT) -> str:
    """The end of a log (where failures are), bounded, secrets removed."""
    log = redact(log)
    return log if len(log) <= limit else "…" + log[-(limit - 1):]


@dataclass
class Record:
    target: str
    argo: str
    os: str
    base: str
    image_os_version: str | None
    image: str
    image_digest: str | None
    host_os_version: str | None
    runner: str
    engine_version: str | None
    isolation: str | None
    check: str
    status: str
    started_at: str
    duration_s: float
    log_excerpt: str
    tool_version: str = __version__

    def to_json(self) -> dict:
        data = asdict(self)
        data["log_excerpt"] = excerpt(self.log_excerpt)
        data["duration_s"] = round(self.duration_s, 3)
        return data


_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def write(record: Record, directory: Path) -> Path:
    """Write one record atomically: readers never see half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = record.started_at.replace(":", "").replace("-", "")
    name = "--".join(_SAFE_RE.sub("_", part) for part in (record.target, record.check, record.runner, stamp))
    path = directory / f"{name}.json"
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".record-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(record.to_json(), out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(temporary, path)
    return path
