"""The results store: an embedded SQLite database of result records from every runner.

Importing is idempotent (a record's key is the hash of its canonical JSON, so the same record
imported twice is kept once) and safe from several processes at once (WAL journal, one
``BEGIN IMMEDIATE`` transaction per import, a busy timeout). Each record is validated; a
malformed one (or one the database refuses) is reported with its file name and reason and
skipped, the rest imported. A file over ``MAX_RECORD_BYTES`` is not read; a log excerpt longer
than ``results.LOG_EXCERPT_LIMIT`` is cut to its end, as the tool writes one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from . import checks, results
from .errors import InputError

DEFAULT_DB = results.DEFAULT_DIR / "results.sqlite"
# The fields of the first records; a record's key is the hash of these (a field added later joins the
# key only when set, so records written before it keep their keys and import once).
KEY_FIELDS = ("target", "argo", "os", "base", "image_os_version", "image", "image_digest", "host_os_version",
              "runner", "engine_version", "isolation", "check", "status", "started_at", "duration_s", "log_excerpt",
              "tool_version")
ADDED_FIELDS = ("argoexec", "node")  # which binary a built image carries; the node a cluster check ran on
FIELDS = KEY_FIELDS + ADDED_FIELDS
REQUIRED_STRINGS = ("target", "argo", "os", "base", "image", "runner", "check", "status", "started_at")
OPTIONAL_STRINGS = ("image_os_version", "image_digest", "host_os_version", "engine_version", "isolation",
                    "log_excerpt", "tool_version", "argoexec", "node")
# Every string but the log names something (a target, a runner, an engine version...): one line of
# printable text. A line break or control character in one would break the line it is shown on
# (a Markdown heading or list item, a terminal line).
IDENTIFIERS = tuple(k for k in (*REQUIRED_STRINGS, *OPTIONAL_STRINGS) if k != "log_excerpt")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A record the tool writes is a few KB (its log excerpt is at most results.LOG_EXCERPT_LIMIT
# characters); a file far larger is no record of ours and is not read into memory.
MAX_RECORD_BYTES = 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    target TEXT NOT NULL, argo TEXT NOT NULL, os TEXT NOT NULL, base TEXT NOT NULL,
    image_os_version TEXT, image TEXT NOT NULL, image_digest TEXT, host_os_version TEXT,
    runner TEXT NOT NULL, engine_version TEXT, isolation TEXT, "check" TEXT NOT NULL,
    status TEXT NOT NULL, started_at TEXT NOT NULL, duration_s REAL NOT NULL, log_excerpt TEXT,
    tool_version TEXT, source TEXT NOT NULL, argoexec TEXT
);
CREATE INDEX IF NOT EXISTS records_cell ON records (target, host_os_version, isolation, "check", started_at);
"""


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0  # records whose key was already stored
    problems: list[str] = field(default_factory=list)  # one per skipped file: "FILE: why"
    notes: list[str] = field(default_factory=list)  # imported, but changed: "FILE: how"


def connect(path: Path = DEFAULT_DB) -> sqlite3.Connection:
    """Open (creating if needed) the database for writing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 60000")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(SCHEMA)
        _add_columns(connection)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise InputError(f"--db {path}: cannot open it as a results database ({exc}); pass another path") from None
    return connection


def _add_columns(connection: sqlite3.Connection) -> None:
    """A database made by an older version lacks the columns added since: add them (NULL for old rows).

    Under a write lock (BEGIN IMMEDIATE): two processes opening one database at once would otherwise both see a
    column missing, and the second ALTER would fail with "duplicate column name"."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(records)")}
    if all(name in present for name in ADDED_FIELDS):
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        present = {row[1] for row in connection.execute("PRAGMA table_info(records)")}
        for name in ADDED_FIELDS:
            if name not in present:
                connection.execute(f'ALTER TABLE records ADD COLUMN "{name}" TEXT')
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def scratch_copy(path: Path) -> sqlite3.Connection:
    """An in-memory copy of the database at ``path`` (empty when there is none), for a dry run: imports into it
    change nothing on disk."""
    copy = sqlite3.connect(":memory:", isolation_level=None)
    if path.is_file():
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            source.backup(copy)
            source.close()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"--db {path}: cannot open it as a results database ({exc}); pass another path") from None
    copy.executescript(SCHEMA)
    _add_columns(copy)
    return copy


def open_for_reading(path: Path | None) -> sqlite3.Connection:
    """For tasks that only read: a named database must exist; the default one may not exist yet
    (then the table shows the rules' predictions), and nothing is created."""
    if path is not None and not path.is_file():
        raise InputError(f"--db {path}: no such results database; import records with "
                         "`invoke results.import --dir DIR --db PATH` first")
    target = path or DEFAULT_DB
    if not target.is_file():
        connection = sqlite3.connect(":memory:", isolation_level=None)
        connection.executescript(SCHEMA)
        return connection
    return connect(target)


def validate(data: object) -> str | None:
    """What is wrong with a record, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    missing = [k for k in (*REQUIRED_STRINGS, "duration_s") if k not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        return f"unknown field {', '.join(unknown)}"
    for key in REQUIRED_STRINGS:
        if not isinstance(data[key], str) or not data[key]:
            return f"{key} must be a non-empty string"
    for key in OPTIONAL_STRINGS:
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{key} must be a string or null"
    for key in (*REQUIRED_STRINGS, *OPTIONAL_STRINGS):
        value = data.get(key)
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON can spell a lone surrogate (\ud800); no text holds one
            return f"{key} is not valid Unicode text (a lone surrogate)"
        if key in IDENTIFIERS and _CONTROL_RE.search(value):
            return f"{key} holds a line break or control character"
    if not _finite_non_negative(data["duration_s"]):
        return "duration_s must be a finite non-negative number"
    if data["status"] not in checks.STATUSES:
        return f"status {data['status']!r} is not one of {', '.join(checks.STATUSES)}"
    if data["check"] not in checks.NAMES:
        return f"check {data['check']!r} is not one of {', '.join(checks.NAMES)}"
    try:
        moment = dt.datetime.fromisoformat(data["started_at"].replace("Z", "+00:00"))
    except ValueError:
        return f"started_at {data['started_at']!r} is not an RFC 3339 time"
    if moment.tzinfo is None:
        return "started_at has no time zone"
    try:
        normalise_time(data["started_at"])
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is before the first UTC time there is
        return f"started_at {data['started_at']!r} is out of range in UTC"
    return None


def _finite_non_negative(value: object) -> bool:
    """NaN would be stored as NULL and Infinity is no duration; both, and ints beyond a float, are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:
        return False


def normalise_time(text: str) -> str:
    """RFC 3339 in UTC with a Z: records from runners in any time zone sort and compare as times."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    timespec = "microseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def record_key(data: dict) -> str:
    fields = {k: data.get(k) for k in KEY_FIELDS}
    fields.update({k: data[k] for k in ADDED_FIELDS if data.get(k) is not None})
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _quoted(names: Iterable[str]) -> list[str]:
    return [f'"{name}"' for name in names]


def read_record(file: Path) -> tuple[object, str | None]:
    """A record file's JSON, or None and why it is not a record."""
    if not file.is_file():  # a folder named *.json is no record, and reading a FIFO would hang
        return None, "not a regular file"
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_RECORD_BYTES + 1)
    except OSError as exc:
        return None, f"not a readable JSON record ({exc.__class__.__name__})"
    if len(raw) > MAX_RECORD_BYTES:
        return None, f"larger than {MAX_RECORD_BYTES // 1024} KiB, far more than a record holds"
    try:
        return json.loads(raw.decode("utf-8")), None
    except RecursionError:
        return None, "not a readable JSON record (nested too deeply)"
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        return None, f"not a readable JSON record ({exc.__class__.__name__}{where})"


_INSERT = (f"INSERT INTO records (key, {', '.join(_quoted(FIELDS))}, source) "
           f"VALUES ({', '.join('?' * (len(FIELDS) + 2))}) ON CONFLICT (key) DO NOTHING")


def import_paths(connection: sqlite3.Connection, paths: Iterable[Path]) -> ImportReport:
    """Import every ``*.json`` record under the given folders (or files), in one transaction.

    Every file is imported, counted as already known (its key is stored), or reported in
    ``problems`` with its name and reason and skipped: a bad file never stops the others."""
    report = ImportReport()
    rows = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such folder; pass the folders that hold result records")
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.json") if not p.name.startswith("."))
        for file in files:
            data, problem = read_record(file)
            row = _row(data, str(file), file.name, report, problem)
            if row is not None:
                rows.append((file, row))
    _insert(connection, rows, report)
    return report


def import_records(connection: sqlite3.Connection, records: Iterable[object], source: str) -> ImportReport:
    """Import records read from elsewhere (evidence kept in a registry), named ``source`` in reports."""
    report = ImportReport()
    rows = []
    for number, data in enumerate(records):
        row = _row(data, f"{source} record {number}", source[:200], report)
        if row is not None:
            rows.append((f"{source} record {number}", row))
    _insert(connection, rows, report)
    return report


# A record dated further ahead of now than this is refused at import and never counted from evidence: a
# runner's wrong clock, or a record made to stay the newest for good.
FUTURE_SLACK = dt.timedelta(minutes=10)


def from_the_future(data: dict, now: dt.datetime | None = None) -> str | None:
    """Why a (valid) record is dated too far ahead of ``now`` (default: this machine's clock), or None."""
    moment = dt.datetime.fromisoformat(normalise_time(data["started_at"]).replace("Z", "+00:00"))
    if moment > (now or dt.datetime.now(dt.timezone.utc)) + FUTURE_SLACK:
        return (f"started_at {data['started_at']} is more than {int(FUTURE_SLACK.total_seconds() // 60)} minutes "
                "ahead of now; check the clock of the machine that wrote it")
    return None


def _row(data: object, shown: str, name: str, report: ImportReport, problem: str | None = None) -> tuple | None:
    """The database row of one record, or None (and why, in ``report``) when it is no record."""
    problem = problem or validate(data)
    record = cast("dict[str, Any]", data)  # once validate() passes: a dict of the schema's fields
    problem = problem or from_the_future(record)
    if problem:
        report.problems.append(f"{shown}: {problem}")
        return None
    data = {**record, "started_at": normalise_time(record["started_at"])}
    key = record_key(data)  # of the record as written, so a re-import finds it
    # The column is REAL either way; an int beyond SQLite's 64 bits would not bind.
    data["duration_s"] = float(data["duration_s"])
    log = data.get("log_excerpt")
    if log is not None and len(log) > results.LOG_EXCERPT_LIMIT:
        # Kept, as the tool writes it (the end, where failures are): the verdict is what the table needs.
        data["log_excerpt"] = results.tail(log)
        report.notes.append(f"{shown}: log_excerpt of {len(log)} characters cut to "
                            f"{results.LOG_EXCERPT_LIMIT}, keeping its end")
    return (key, *(data.get(k) for k in FIELDS), name)


def _insert(connection: sqlite3.Connection, rows: list[tuple], report: ImportReport) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        for shown, row in rows:
            try:
                # DO NOTHING on a known key alone: any other refusal raises, and is reported below.
                stored = connection.execute(_INSERT, row).rowcount
            except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, ValueError,
                    OverflowError) as exc:
                # validate() should have refused it; if the database does, it is still skipped by
                # name, never counted as already known.
                report.problems.append(f"{shown}: cannot be stored ({exc})")
                continue
            if stored:
                report.imported += 1
            else:
                report.duplicates += 1
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def all_records(connection: sqlite3.Connection) -> list[dict]:
    cursor = connection.execute(f"SELECT {', '.join(_quoted(FIELDS))} FROM records ORDER BY started_at, key")
    return [dict(zip(FIELDS, row, strict=True)) for row in cursor.fetchall()]
