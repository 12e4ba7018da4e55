"""Importing records: every file is imported, counted as already known, or skipped by name with its
reason; a bad file never stops the others and is never counted as a duplicate."""

from __future__ import annotations

import json
import os

import pytest

from builder import results, store
from tests.cli import invoke
from tests.test_table import record


def _import(tmp_path, folder):
    return invoke("results.import", "--dir", str(folder), "--db", str(tmp_path / "r.sqlite"))


def _stored(tmp_path) -> list[dict]:
    return store.all_records(store.connect(tmp_path / "r.sqlite"))


def test_numbers_must_be_finite(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(record()))
    # json.dumps writes NaN and Infinity, and json.loads reads them: what a runner's Python may send.
    bad = {"nan.json": float("nan"), "infinity.json": float("inf"), "negative.json": -1, "huge.json": 10 ** 400,
           "text.json": "1.5", "true.json": True}
    for name, duration in bad.items():
        (folder / name).write_text(json.dumps(record(runner=name, duration_s=duration)))
    result = _import(tmp_path, folder)
    assert result.returncode == 1
    for name in bad:
        assert f"skipped: {folder / name}: duration_s must be a finite non-negative number\n" in result.stdout
    assert "imported 1 record (0 already known, 6 skipped)" in result.stdout
    assert [r["runner"] for r in _stored(tmp_path)] == ["ws2019"]


def test_a_record_the_database_refuses_is_skipped_by_name_not_counted_as_known(tmp_path, monkeypatch):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(record()))
    (folder / "nan.json").write_text(json.dumps(record(runner="nan", duration_s=float("nan"))))
    (folder / "again.json").write_text(json.dumps(record()))  # the same record as good.json: a real duplicate
    # Should validation ever let a record through that the database refuses (here NaN, stored as
    # NULL in a NOT NULL column), the import still names it.
    monkeypatch.setattr(store, "validate", lambda data: None)
    report = store.import_paths(store.connect(tmp_path / "r.sqlite"), [folder])
    assert (report.imported, report.duplicates) == (1, 1)
    assert report.problems == [f"{folder / 'nan.json'}: cannot be stored (NOT NULL constraint failed: "
                               "records.duration_s)"]


def test_one_bad_record_does_not_stop_the_import(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for index in range(3):
        (folder / f"good-{index}.json").write_text(json.dumps(record(runner=f"r{index}")))
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "deep-in-a-field.json").write_text(json.dumps(record())[:-1] + ', "x": ' + "[" * 50_000
                                                 + "]" * 50_000 + "}")
    surrogate = json.dumps(record(runner="SURROGATE")).replace("SURROGATE", "\\ud800")
    (folder / "surrogate.json").write_text(surrogate)
    (folder / "surrogate-in-log.json").write_text(json.dumps(record(log_excerpt="LOG")).replace("LOG", "a\\udfffb"))
    (folder / "offset.json").write_text(json.dumps(record(started_at="0001-01-01T00:00:00+05:00")))
    (folder / "late.json").write_text(json.dumps(record(started_at="9999-12-31T23:59:59-05:00")))
    (folder / "not-utf8.json").write_bytes(b'{"runner": "\xff"}')
    (folder / "folder.json").mkdir()
    result = _import(tmp_path, folder)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "error: 8 result record(s) were malformed and skipped; see above"
    reasons = {
        "deep.json": "not a readable JSON record (nested too deeply)",
        "deep-in-a-field.json": "not a readable JSON record (nested too deeply)",
        "surrogate.json": "runner is not valid Unicode text (a lone surrogate)",
        "surrogate-in-log.json": "log_excerpt is not valid Unicode text (a lone surrogate)",
        "offset.json": "started_at '0001-01-01T00:00:00+05:00' is out of range in UTC",
        "late.json": "started_at '9999-12-31T23:59:59-05:00' is out of range in UTC",
        "not-utf8.json": "not a readable JSON record (UnicodeDecodeError)",
        "folder.json": "not a regular file",
    }
    for name, reason in reasons.items():
        assert f"skipped: {folder / name}: {reason}\n" in result.stdout
    assert "imported 3 records (0 already known, 8 skipped)" in result.stdout
    assert sorted(r["runner"] for r in _stored(tmp_path)) == ["r0", "r1", "r2"]


@pytest.mark.timeout(30)  # before the fix, reading the FIFO blocked the import for good
def test_a_fifo_among_the_records_is_skipped(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(record()))
    os.mkfifo(folder / "pipe.json")
    result = _import(tmp_path, folder)
    assert result.returncode == 1
    assert f"skipped: {folder / 'pipe.json'}: not a regular file\n" in result.stdout
    assert "imported 1 record (0 already known, 1 skipped)" in result.stdout


def test_record_files_and_log_excerpts_are_bounded(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    # A file larger than any record is not read at all (a 60 MB excerpt was once taken whole).
    (folder / "huge.json").write_text(json.dumps(record(runner="huge", log_excerpt="x" * 2_000_000)))
    # A longer excerpt than the tool writes is kept as the tool keeps one: its end, where failures are.
    log = "".join(f"line {n}\n" for n in range(3000))
    assert len(log) > results.LOG_EXCERPT_LIMIT
    (folder / "long-log.json").write_text(json.dumps(record(runner="long", log_excerpt=log)))
    result = _import(tmp_path, folder)
    assert result.returncode == 1
    assert f"skipped: {folder / 'huge.json'}: larger than 1024 KiB, far more than a record holds\n" in result.stdout
    assert (f"note: {folder / 'long-log.json'}: log_excerpt of {len(log)} characters cut to "
            f"{results.LOG_EXCERPT_LIMIT}, keeping its end\n") in result.stdout
    assert "imported 1 record (0 already known, 1 skipped)" in result.stdout
    [stored] = _stored(tmp_path)
    assert len(stored["log_excerpt"]) == results.LOG_EXCERPT_LIMIT and stored["log_excerpt"].startswith("…")
    assert log.endswith(stored["log_excerpt"][1:])
    # The record keeps its key: importing it again finds it.
    assert "imported 0 records (1 already known, 1 skipped)" in _import(tmp_path, folder).stdout
