"""matrix.lock.json: what `invoke refresh` resolved, read strictly and written deterministically.

The matrix names bases by tag and Argo releases by a version range; both move (Microsoft re-publishes
each base tag monthly with a new digest and ``os.version`` revision, Argo ships patch releases). The
lock pins them: for each base tag (keyed by the UNMIRRORED reference, so a mirror does not change it)
the digest of its windows/amd64 image and that image's full ``os.version``; and the Argo releases to
build, each with its tag's commit and the ``go`` directive of its go.mod. builder/refresh.py writes it,
builder/matrix.py reads it beside the matrix file (``matrix.yaml`` -> ``matrix.lock.json``).

The file is sorted JSON with a 2-space indent and a final newline, holding nothing of its own making
(no timestamps): a refresh that finds nothing new rewrites the same bytes. Every problem in it is one
line naming the lock file and the key, and says to run `invoke refresh` (exit 2).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, MatrixError
from .files import FileRefused, read_small_text, write_atomically
from .reference import DIGEST_RE, Reference

SCHEMA = 1
LOCK_ENV = "ARGOEXEC_BUILDER_LOCK"  # `none`: ignore any lock; a path: read (and refresh) that lock file
NO_LOCK = "none"
# A lock of every base and Argo release ever would be a few KB.
MAX_LOCK_BYTES = 1 << 20

ARGO_TAG_RE = re.compile(r"^v\d+\.\d+\.\d+(?:-rc\d+)?\Z", re.ASCII)
GO_VERSION_RE = re.compile(r"^1\.\d+(?:\.\d+)?\Z", re.ASCII)
COMMIT_RE = re.compile(r"^[0-9a-f]{40}\Z", re.ASCII)
OS_VERSION_RE = re.compile(r"^10\.0\.\d{1,6}\.\d{1,6}\Z", re.ASCII)
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\Z", re.ASCII)
REFRESH_HINT = "run `invoke refresh` to write it again"


@dataclass(frozen=True)
class LockedBase:
    """A base tag pinned: the digest of its windows/amd64 image and that image's full os.version; ``index``:
    the tag's own digest when the tag is an index (so that one HEAD tells a refresh the tag has not moved)."""

    digest: str
    os_version: str
    index: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"digest": self.digest, "os_version": self.os_version, **({"index": self.index} if self.index else {})}


@dataclass(frozen=True)
class LockedArgo:
    """An Argo release to build: its tag, the tag's commit, go.mod's ``go`` and when it was published."""

    version: str
    commit: str
    go: str
    published_at: str | None = None


@dataclass(frozen=True)
class Lock:
    """matrix.lock.json. ``argo`` is None when the lock pins no Argo release (then the matrix's list is built)."""

    file: str
    bases: dict[str, LockedBase] = field(default_factory=dict)
    argo: tuple[LockedArgo, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schema": SCHEMA,
            "bases": {key: b.to_json() for key, b in self.bases.items()},
        }
        if self.argo is not None:
            document["argo"] = [{"version": a.version, "commit": a.commit, "go": a.go,
                                 **({"published_at": a.published_at} if a.published_at else {})}
                                for a in self.argo]
        return document

    def text(self) -> str:
        """The file's bytes (as text): sorted keys, 2-space indent, a final newline."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------
# Where the lock is


def lock_path(matrix_path: Path | str) -> Path:
    """The lock beside a matrix file: ``x/foo.yaml`` -> ``x/foo.lock.json``."""
    path = Path(matrix_path)
    return path.with_name(f"{path.stem if path.suffix in ('.yaml', '.yml') else path.name}.lock.json")


def display_path(matrix_display: str) -> str:
    """The name messages use for the lock of a matrix shown as ``matrix_display``."""
    return str(lock_path(matrix_display))


def chosen_lock(matrix_path: Path, matrix_display: str,
                explicit: Path | str | bool | None = None) -> tuple[Path, str, bool] | None:
    """Which lock a run reads: (path, name for messages, whether it must exist), or None for no lock.

    ``explicit`` (a path, or False for none) wins; else ``ARGOEXEC_BUILDER_LOCK`` (``none``, or a path);
    else the lock beside the matrix file, if there is one."""
    if explicit is False:
        return None
    if explicit is not None and explicit is not True:
        return Path(explicit), str(explicit), True
    from_env = os.environ.get(LOCK_ENV, "").strip()
    if from_env.lower() == NO_LOCK:
        return None
    if from_env:
        return Path(from_env), from_env, True
    return lock_path(matrix_path), display_path(matrix_display), False


# ---------------------------------------------------------------------------------------------
# Reading


def _fail(file: str, key: str, problem: str) -> None:
    raise MatrixError(file, None, key, f"{problem}; {REFRESH_HINT}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_lock(path: Path, file: str, must_exist: bool = True) -> Lock | None:
    """The lock at ``path`` (``file`` is its name in messages); None if it is absent and need not exist."""
    try:
        text = read_small_text(path, MAX_LOCK_BYTES)
    except FileNotFoundError:
        if not must_exist:
            return None
        raise MatrixError(file, None, "", f"no such file; run `invoke refresh`, or set {LOCK_ENV}=none to "
                                          "build from the matrix's tags") from None
    except FileRefused as exc:
        raise MatrixError(file, None, "", f"{exc}; {REFRESH_HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise MatrixError(file, None, "", f"cannot read it ({reason})") from None
    return parse_lock(text, file)


def parse_lock(text: str, file: str = "matrix.lock.json") -> Lock:
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        _fail(file, "", f"not JSON ({str(exc)[:80]})")
    if not isinstance(document, dict):
        _fail(file, "", "expected a JSON object with schema, bases and argo")
    for key in document:
        if key not in ("schema", "bases", "argo"):
            _fail(file, key, "unknown key; expected one of: schema, bases, argo")
    schema = document.get("schema")
    if schema != SCHEMA or isinstance(schema, bool):
        _fail(file, "schema", f"{schema!r} is not supported; expected {SCHEMA}")
    if "bases" not in document:
        _fail(file, "bases", "missing; this key is required")
    return Lock(file, _bases(file, document["bases"]), _argo(file, document["argo"]) if "argo" in document else None)


def _bases(file: str, bases: Any) -> dict[str, LockedBase]:
    if not isinstance(bases, dict):
        _fail(file, "bases", "expected an object of image reference: {digest, os_version}")
    out: dict[str, LockedBase] = {}
    for key in sorted(bases):
        path = f"bases[{json.dumps(key)}]"
        try:
            tagged = Reference.parse(key, strict=True).digest is None
        except InputError:
            tagged = False
        if not tagged:
            _fail(file, path, "not a tagged image reference; expected registry/repository:tag")
        entry = bases[key]
        if not isinstance(entry, dict) or not {"digest", "os_version"} <= set(entry) <= {"digest", "os_version",
                                                                                          "index"}:
            _fail(file, path, "expected an object of digest and os_version (and index)")
        digest, os_version, index = entry["digest"], entry["os_version"], entry.get("index")
        for name, value in (("digest", digest), ("index", index)):
            if (name == "digest" or value is not None) and (not isinstance(value, str) or not DIGEST_RE.match(value)):
                _fail(file, f"{path}.{name}", f"{str(value)[:80]!r} is not a digest; expected sha256:<64 hex digits>")
        if not isinstance(os_version, str) or not OS_VERSION_RE.match(os_version):
            _fail(file, f"{path}.os_version", f"{str(os_version)[:80]!r} is not an os.version; expected "
                                              "10.0.BUILD.REVISION")
        out[key] = LockedBase(digest, os_version, index)
    return out


def _argo(file: str, releases: Any) -> tuple[LockedArgo, ...]:
    if not isinstance(releases, list) or not releases:
        _fail(file, "argo", "expected a non-empty list of {version, commit, go, published_at}")
    out: list[LockedArgo] = []
    for index, entry in enumerate(releases):
        path = f"argo[{index}]"
        if not isinstance(entry, dict) or not {"version", "commit", "go"} <= set(entry) \
                or not set(entry) <= {"version", "commit", "go", "published_at"}:
            _fail(file, path, "expected an object of version, commit, go and optionally published_at")
        checks = (("version", ARGO_TAG_RE, "an Argo tag like v4.1.2"), ("commit", COMMIT_RE, "40 hex digits"),
                  ("go", GO_VERSION_RE, "a Go version like 1.26.5"))
        for key, pattern, expected in checks:
            value = entry[key]
            if not isinstance(value, str) or not pattern.match(value):
                _fail(file, f"{path}.{key}", f"{str(value)[:80]!r} is not valid; expected {expected}")
        published = entry.get("published_at")
        if published is not None and (not isinstance(published, str) or not TIMESTAMP_RE.match(published)):
            _fail(file, f"{path}.published_at", f"{str(published)[:80]!r} is not a time; expected "
                                                "YYYY-MM-DDTHH:MM:SSZ")
        if any(a.version == entry["version"] for a in out):
            _fail(file, f"{path}.version", f"{entry['version']} is listed twice")
        out.append(LockedArgo(entry["version"], entry["commit"], entry["go"], published))
    return tuple(out)


def write_lock(path: Path, lock: Lock) -> None:
    write_atomically(path, lock.text())
