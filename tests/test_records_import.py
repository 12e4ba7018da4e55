"""Importing records: every file is imported, counted as already known, or skipped by name with its
reason; a bad file never stops the others and is never counted as a duplicate."""

from __future__ import annotations

import json

from builder import store
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
