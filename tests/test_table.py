"""The compatibility table: cell states, newer results, contradictions, the store, the outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder import results, store
from builder import table as table_mod
from builder.matrix import load_matrix
from builder.table_formats import README_END, README_START, to_html, to_json, to_markdown
from tests import matrix_facts
from tests.cli import ROOT, invoke


def record(target="v4.1.2-windows-1809", host="10.0.17763.5329", isolation="process", check="argoexec-version",
           status="pass", started_at="2026-11-20T01:00:00Z", runner="ws2019", **extra) -> dict:
    base = target.split("-windows-")[1]
    data = results.Record(target=target, argo=target.split("-")[0], os="windows", base=base,
                          image_os_version="10.0.17763", image=f"argoexec-builder/argoexec:{target}",
                          image_digest="sha256:" + "1" * 64, host_os_version=host, runner=runner,
                          engine_version="20.10.9", isolation=isolation, check=check, status=status,
                          started_at=started_at, duration_s=1.5, log_excerpt="argoexec: v4.1.2").to_json()
    data.update(extra)
    return data


def both_checks(**kwargs) -> list[dict]:
    return [record(check="argoexec-version", **kwargs), record(check="hello-windows", **kwargs)]


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def cell(matrix, records, image="v4.1.2-windows-1809", host="1809", isolation="process"):
    model = table_mod.build_table(matrix, records)
    row = next(r for r in model.rows if r.id == image)
    return row.cells[host][isolation]


def test_every_cell_state(matrix):
    assert cell(matrix, []).state == table_mod.PREDICTED
    refused = cell(matrix, [], image="v4.1.2-windows-ltsc2022", host="1809", isolation="hyperv")
    assert refused.state == table_mod.CANNOT_RUN and "newer than the host" in refused.rule
    passed = cell(matrix, both_checks())
    assert passed.state == table_mod.VERIFIED_PASS and not passed.contradicts_rules
    assert passed.evidence.runner == "ws2019" and passed.evidence.engine_version == "20.10.9"
    assert passed.evidence.image_digest == "sha256:" + "1" * 64 and passed.evidence.date == "2026-11-20T01:00:00Z"
    assert {c for c, _ in passed.evidence.checks} == {"argoexec-version", "hello-windows"}
    failed = cell(matrix, [record(), record(check="hello-windows", status="fail")])
    assert failed.state == table_mod.VERIFIED_FAIL and failed.contradicts_rules  # the rules said it runs
    # `error` (image not pullable, engine trouble, a timeout) says nothing about the image.
    assert cell(matrix, [record(status="error"), record(check="hello-windows", status="error")]).state == \
        table_mod.PREDICTED


def test_a_newer_result_replaces_an_older_one(matrix):
    old_fail = both_checks(status="fail", started_at="2026-11-01T00:00:00Z", runner="old")
    new_pass = both_checks(status="pass", started_at="2026-11-20T00:00:00Z", runner="new")
    for records in (old_fail + new_pass, new_pass + old_fail):  # order of import does not matter
        now = cell(matrix, records)
        assert now.state == table_mod.VERIFIED_PASS and now.evidence.runner == "new"
    assert cell(matrix, new_pass + both_checks(status="fail", started_at="2026-11-21T00:00:00Z")).state == \
        table_mod.VERIFIED_FAIL


def test_newest_is_decided_by_time_not_by_text(matrix):
    older_pass = both_checks(status="pass", started_at="2026-11-20T06:30:00+02:00", runner="east")  # 04:30Z
    newer_fail = both_checks(status="fail", started_at="2026-11-20T05:00:00Z", runner="west")
    assert cell(matrix, older_pass + newer_fail).evidence.runner == "west"
    fraction = both_checks(status="pass", started_at="2026-11-20T05:00:00.500Z", runner="later")
    assert cell(matrix, newer_fail + fraction).state == table_mod.VERIFIED_PASS


def test_a_cell_is_judged_on_one_run(matrix):
    old_image = record(check="hello-windows", status="pass", started_at="2026-11-01T00:00:00Z",
                       image_digest="sha256:" + "0" * 64)
    new_image = record(check="argoexec-version", status="pass", started_at="2026-11-20T00:00:00Z",
                       image_digest="sha256:" + "2" * 64)
    judged = cell(matrix, [old_image, new_image])
    assert judged.state == table_mod.VERIFIED_PASS
    assert [c for c, _ in judged.evidence.checks] == ["argoexec-version"]  # the old hello is not counted
    assert judged.evidence.image_digest == "sha256:" + "2" * 64


def test_import_normalises_times_to_utc(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(record(started_at="2026-11-20T06:30:00+02:00")))
    db = tmp_path / "r.sqlite"
    store.import_paths(store.connect(db), [folder])
    assert [r["started_at"] for r in store.all_records(store.connect(db))] == ["2026-11-20T04:30:00Z"]


def test_a_result_that_contradicts_the_rules_is_shown_and_flagged(matrix):
    # 1809 image verified to run with process isolation on a 2022 host: the rules say it cannot.
    odd = both_checks(host="10.0.20348.169", runner="hv2022")
    flagged = cell(matrix, odd, host="2022")
    assert flagged.state == table_mod.VERIFIED_PASS and flagged.contradicts_rules and not flagged.rule_allows
    model = table_mod.build_table(matrix, odd)
    data = json.loads(to_json(model))
    image = next(i for i in data["images"] if i["id"] == "v4.1.2-windows-1809")
    assert image["cells"]["2022"]["process"]["contradicts_rules"] is True
    assert "⚠" in to_markdown(model) and "contradicts the rules" in to_html(model)


def test_not_runnable_records_and_unknown_hosts_do_not_verify(matrix):
    assert cell(matrix, [record(status="not-runnable")]).state == table_mod.PREDICTED
    model = table_mod.build_table(matrix, [record(host="10.0.22000.1")])
    assert model.unplaced == 1


def test_advice_for_a_host(matrix):
    model = table_mod.build_table(matrix, both_checks(target="v4.1.2-windows-ltsc2022", host="10.0.26100.2894",
                                                      runner="windows-2025"))
    advice = {a.argo: a for a in table_mod.advise(model, matrix.host("2025"))}
    assert advice["v4.1.2"].row.id == "v4.1.2-windows-ltsc2022"  # verified beats predicted
    assert advice["v4.1.2"].isolation == "process" and advice["v4.1.2"].cell.state == table_mod.VERIFIED_PASS
    assert advice["v4.0.10"].row.id == "v4.0.10-windows-ltsc2025"  # predicted: the newest base build
    win10 = {a.argo: a for a in table_mod.advise(model, matrix.host("win10-22h2"))}
    assert win10["v4.1.2"].isolation == "hyperv" and win10["v4.1.2"].row.id == "v4.1.2-windows-20H2"


def test_invoke_table_answers_which_image_for_a_host(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for index, data in enumerate(both_checks(target="v4.1.2-windows-ltsc2022", host="10.0.26100.2894",
                                             runner="windows-2025")):
        (folder / f"{index}.json").write_text(json.dumps(data))
    db = str(tmp_path / "r.sqlite")
    assert invoke("results.import", "--dir", str(folder), "--db", db).returncode == 0
    result = invoke("table", "--db", db, "--host", "2025", "--argo", "v4.1.2", "--offline")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        "Windows Server 2025, build 10.0.26100:",
        "v4.1.2: pull localhost:5000/argoexec:v4.1.2-windows-ltsc2022 (not published yet)",
        "  isolation: process",
        "  how sure: verified 2026-11-20 on runner windows-2025, host 10.0.26100.2894"]
    unknown = invoke("table", "--db", db, "--host", "2030")
    assert unknown.returncode == 2
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: --host 2030: unknown node; known: 1809, 2019, ltsc2019, 1903")
    assert all(name in lines[0] for name in matrix_facts.HOST_NAMES)
    assert "or a build 10.0.BUILD[.REVISION] (the value of a node's node.kubernetes.io/windows-build label" in lines[0]
    as_json = json.loads(invoke("table", "--db", db, "--format", "json", "--argo", "v4.1.2").stdout)
    assert as_json["schema"] == 1 and {i["argo"] for i in as_json["images"]} == {"v4.1.2"}
    # One row per Windows base, one column per host of matrix.yaml.
    assert [i["id"] for i in as_json["images"]] == [matrix_facts.target_id(b, "v4.1.2")
                                                     for b in matrix_facts.RELEASE_NAMES]
    assert [h["name"] for h in as_json["hosts"]] == list(matrix_facts.HOST_NAMES)


# -- the store --------------------------------------------------------------------------------------


def _write_records(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        data = record(started_at=f"2026-11-{1 + index % 28:02d}T00:00:{index % 60:02d}Z", runner=f"r{index}")
        (folder / f"{index:04d}.json").write_text(json.dumps(data))


def _dump(db: Path) -> list[dict]:
    return store.all_records(store.connect(db))


def test_importing_the_same_directory_twice_keeps_one_of_each(tmp_path):
    _write_records(tmp_path / "a", 40)
    db = tmp_path / "r.sqlite"
    first = store.import_paths(store.connect(db), [tmp_path / "a"])
    second = store.import_paths(store.connect(db), [tmp_path / "a"])
    assert (first.imported, second.imported, second.duplicates) == (40, 0, 40)
    assert len(_dump(db)) == 40


def test_two_imports_at_once_lose_nothing(tmp_path):
    _write_records(tmp_path / "a", 300)
    _write_records(tmp_path / "b", 300)
    for index in range(300):  # b differs from a in every record
        path = tmp_path / "b" / f"{index:04d}.json"
        data = json.loads(path.read_text())
        data["runner"] = f"other-{index}"
        path.write_text(json.dumps(data))
    together, alone = tmp_path / "together.sqlite", tmp_path / "alone.sqlite"
    script = ("import sys; from pathlib import Path; from builder import store; "
              "store.import_paths(store.connect(Path(sys.argv[1])), [Path(p) for p in sys.argv[2:]])")
    processes = [subprocess.Popen([sys.executable, "-c", script, str(together), str(tmp_path / f), str(tmp_path / g)],
                                  cwd=ROOT) for f, g in (("a", "b"), ("b", "a"), ("a", "a"))]
    assert [p.wait(120) for p in processes] == [0, 0, 0]
    store.import_paths(store.connect(alone), [tmp_path / "a", tmp_path / "b"])
    assert _dump(together) == _dump(alone) and len(_dump(alone)) == 600


def test_malformed_records_are_reported_by_file_and_skipped(tmp_path):
    folder = tmp_path / "records"
    _write_records(folder, 3)
    (folder / "broken.json").write_text("{not json")
    (folder / "bad-status.json").write_text(json.dumps(record(status="maybe")))
    (folder / "no-time.json").write_text(json.dumps({k: v for k, v in record().items() if k != "started_at"}))
    db = str(tmp_path / "r.sqlite")
    result = invoke("results.import", "--dir", str(folder), "--db", db)
    assert result.returncode == 1
    assert f"skipped: {folder / 'broken.json'}: not a readable JSON record (JSONDecodeError at line 1, column 2)" \
        in result.stdout
    assert f"skipped: {folder / 'bad-status.json'}: status 'maybe' is not one of" in result.stdout
    assert f"skipped: {folder / 'no-time.json'}: missing started_at" in result.stdout
    assert "imported 3 records (0 already known, 3 skipped)" in result.stdout
    assert result.stderr.strip() == "error: 3 result record(s) were malformed and skipped; see above"


# -- publishing the outputs -------------------------------------------------------------------------


def test_publish_writes_deterministic_outputs_and_the_readme_section(tmp_path):
    folder = tmp_path / "records"
    _write_records(folder, 5)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{README_START}\nold\n{README_END}\nafter\n")
    args = ("publish", "--results", str(folder), "--db", str(tmp_path / "r.sqlite"), "--docs", str(tmp_path / "docs"),
            "--readme", str(readme))
    first = invoke(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    outputs = {name: (tmp_path / "docs" / name).read_bytes()
               for name in ("compatibility.md", "compatibility.json", "index.html")}
    readme_text = readme.read_text()
    assert readme_text.startswith("# x\n\nbefore\n" + README_START) and readme_text.endswith(README_END + "\nafter\n")
    assert "argoexec v4.1.2: one tag for every node" in readme_text and "old" not in readme_text
    assert [line.split()[0] for line in first.stdout.splitlines() if line.startswith(("wrote", "unchanged"))] == \
        ["wrote"] * 4
    mtimes = {name: (tmp_path / "docs" / name).stat().st_mtime_ns for name in outputs}
    again = invoke(*args)
    assert again.returncode == 0
    # Nothing new: each output is said to be unchanged, and left alone (not even rewritten).
    assert [line for line in again.stdout.splitlines() if line.startswith(("wrote", "unchanged"))] == [
        f"unchanged {tmp_path / 'docs' / name}" for name in outputs] + [f"unchanged {readme}"]
    assert mtimes == {name: (tmp_path / "docs" / name).stat().st_mtime_ns for name in outputs}
    assert outputs == {name: (tmp_path / "docs" / name).read_bytes() for name in outputs}
    assert readme.read_text() == readme_text
    html = outputs["index.html"].decode()
    assert "http://" not in html and "https://" not in html and "<link" not in html and "src=" not in html


def test_the_project_readme_has_the_compatibility_section():
    text = (ROOT / "README.md").read_text()
    assert text.count(README_START) == 1 and text.count(README_END) == 1


def test_only_the_published_digests_records_count_and_a_new_digest_starts_from_predicted(matrix):
    old, new = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    verified_old = both_checks(image_digest=old)
    repo = "registry.example:5000/argoexec"
    published_old = table_mod.Publication(repo, {"v4.1.2": "sha256:" + "9" * 64}, {"v4.1.2-windows-1809": old})
    model = table_mod.build_table(matrix, verified_old, published_old)
    row = next(r for r in model.rows if r.id == "v4.1.2-windows-1809")
    assert row.cells["1809"]["process"].state == table_mod.VERIFIED_PASS
    assert row.pull.pinned == f"{repo}:v4.1.2-windows-1809@{old}"
    # Rebuilt: the tag now points at another digest, which nobody has verified yet.
    published_new = table_mod.Publication(repo, {}, {"v4.1.2-windows-1809": new})
    rebuilt = table_mod.build_table(matrix, verified_old, published_new)
    assert next(r for r in rebuilt.rows if r.id == "v4.1.2-windows-1809").cells["1809"]["process"].state == \
        table_mod.PREDICTED
    # What people read names it: the one tag per Argo version, each per-base tag, digests when published.
    markdown = to_markdown(model)
    assert f"Pull `{repo}:v4.1.2` (`sha256:{'9' * 64}`)" in markdown
    assert f"- 1809: `{repo}:v4.1.2-windows-1809` `{old}`" in markdown
    assert f"- 1903: `{repo}:v4.1.2-windows-1903` (not published yet)" in markdown
    document = json.loads(to_json(model))
    assert document["repository"] == repo
    assert document["indexes"]["v4.1.2"] == {"reference": f"{repo}:v4.1.2", "digest": "sha256:" + "9" * 64}
    pinned = f"{repo}:v4.1.2@sha256:{'9' * 64}"
    # On the page it breaks only after / : @ (each part whole), and reads as the reference.
    assert f'<code><span class="seg">{repo.split("/")[0].split(":")[0]}:</span><wbr>' in to_html(model)
    import re as re_mod

    codes = [re_mod.sub(r"<[^>]+>", "", c) for c in re_mod.findall(r"<code>(.*?)</code>", to_html(model))]
    assert pinned in codes


def test_a_failed_feature_check_is_a_warning_not_a_failing_cell(matrix):
    """output-parameter checks one Argo feature (upstream's saveParameter and a Windows path): when it fails and the
    executor's own checks pass, the cell still says the image runs, and the table says what does not work there."""
    runs = [*both_checks(), record(check="output-parameter", status="fail")]
    model = table_mod.build_table(matrix, runs)
    judged = next(r for r in model.rows if r.id == "v4.1.2-windows-1809").cells["1809"]["process"]
    assert judged.state == table_mod.VERIFIED_PASS
    assert ("output-parameter", "fail") in judged.evidence.checks  # the evidence still shows it
    said = [w for w in model.warnings if w.startswith("v4.1.2-windows-1809 on 1809 (process): verified ")]
    assert said and "output parameters named by a Windows path are not saved" in said[0]
    assert said[0] in json.loads(to_json(model))["warnings"]
    assert "v4.1.2-windows-1809 on 1809 (process): verified output parameters named by a Windows path" in \
        to_markdown(model)
    # The executor's own checks still judge the cell.
    failing = [record(), record(check="hello-windows", status="fail"), record(check="output-parameter")]
    assert cell(matrix, failing).state == table_mod.VERIFIED_FAIL
    assert not [w for w in table_mod.build_table(matrix, failing).warnings if "output parameters" in w]
