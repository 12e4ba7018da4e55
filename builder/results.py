"""Results: one JSON record per check (``checks.CHECKS``), with its evidence.

Records are what the nightly matrix merges and what the compatibility table is made from. Every
step makes its records with ``Record.of`` from the plan of the target. They never contain
secrets: every free-text field goes through ``secrets.redact``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .files import write_atomically
from .secrets import redact

if TYPE_CHECKING:
    from .compat import HostFacts
    from .plan import PlannedTarget

LOG_EXCERPT_LIMIT = 4000
DEFAULT_DIR = Path("results")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# How much more than the excerpt is redacted before the final cut: a secret that straddles the cut is
# still recognised whole (unless it is longer than this).
REDACT_MARGIN = 4096


def excerpt(log: str, limit: int = LOG_EXCERPT_LIMIT) -> str:
    """The end of a log (where failures are), bounded, secrets removed: the tail is cut before it is
    redacted, so a log of megabytes costs what its end costs."""
    return tail(redact(tail(log, limit + REDACT_MARGIN)), limit)


def tail(log: str, limit: int = LOG_EXCERPT_LIMIT) -> str:
    """The end of a log, at most ``limit`` characters."""
    return log if len(log) <= limit else "…" + log[-(limit - 1):]


@dataclass(frozen=True)
class Started:
    """When a step began: the wall-clock time for the record, the monotonic one for its duration."""

    at: str = field(default_factory=lambda: rfc3339(now()))
    monotonic: float = field(default_factory=time.monotonic)

    def seconds(self) -> float:
        return time.monotonic() - self.monotonic


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
    argoexec: str | None = None  # which binary the image carries: origin and sha256 (binaries.Binary.summary)
    node: str | None = None  # the Kubernetes node a cluster check's pod ran on (its hostNodeName)

    @classmethod
    def of(cls, planned: PlannedTarget, *, check: str, status: str, started: Started, image: str,
           image_digest: str | None, runner: str, log: str, host: HostFacts | None = None,
           isolation: str | None = None, argoexec: str | None = None, node: str | None = None) -> Record:
        """The one way every step makes a record: the target's facts from its plan, the host's from
        the engine that ran the step (None for daemonless assembly)."""
        target = planned.target
        return cls(
            target=target.id, argo=target.argo.tag, os=target.os, base=target.base,
            image_os_version=planned.os_version, image=image, image_digest=image_digest,
            host_os_version=str(host.build) if host is not None and host.build else None,
            runner=runner, engine_version=host.engine_version if host is not None else None,
            isolation=isolation, check=check, status=status, started_at=started.at,
            duration_s=started.seconds(), log_excerpt=log, argoexec=argoexec, node=node)

    def to_json(self) -> dict:
        data = asdict(self)
        data["log_excerpt"] = excerpt(self.log_excerpt)
        data["duration_s"] = round(self.duration_s, 3)
        for name in ("argoexec", "node"):
            if data[name] is None:
                del data[name]  # only builds carry argoexec, only cluster checks a node; older records neither
        return data


_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def write(record: Record, directory: Path) -> Path:
    """Write one record atomically: readers never see half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = record.started_at.replace(":", "").replace("-", "")
    name = "--".join(_SAFE_RE.sub("_", part) for part in (record.target, record.check, record.runner, stamp))
    path = directory / f"{name}.json"
    write_atomically(path, json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n")
    return path
