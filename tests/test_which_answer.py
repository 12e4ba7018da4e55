"""`invoke which` answers first, in one vocabulary, at the terminal's width, within a deadline (issue 21)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from builder import store
from builder import table as table_mod
from tests import matrix_facts
from tests.cli import invoke
from tests.hostile_http import SilentServer

M = matrix_facts.MATRIX


@pytest.fixture
def db(tmp_path) -> str:
    path = tmp_path / "r.sqlite"
    store.connect(path).close()
    return str(path)


def _every_spelling() -> list[str]:
    """Each name the matrix gives a node or a release, each column's build (with a revision and as the label's
    value), a build that is no column, one newer than every release, and Windows Server 2016's."""
    names = set(table_mod.node_spellings(M)) | {r.name for r in M.releases}
    for host in M.hosts:
        names |= {host.build.base, f"{host.build.base}.6893", f"{table_mod.LABEL}={host.build.base}"}
    return sorted(names | {"10.0.20349", "10.0.30000", "10.0.14393", "2016"})


@pytest.mark.parametrize("spelling", _every_spelling())
def test_which_fits_80_columns_and_leads_with_the_answer(spelling, db):
    env = {**os.environ, "COLUMNS": "80"}
    result = invoke("which", "--node", spelling, "--db", db, env=env)  # the lookup fails: its note too must fit
    assert result.returncode == 0, result.stderr
    for line in (result.stdout + result.stderr).splitlines():
        assert len(line) <= 80, line
    lines = result.stdout.splitlines()
    node = table_mod.resolve_node(M, spelling)
    if node.build.build < 17763:
        assert "not supported" in " ".join(lines[:2]), lines[:3]
        return
    # The first three lines: the node, then the reference to pull and the isolation of the newest Argo version.
    assert lines[1].startswith(f"{matrix_facts.ARGO_TAGS[0]}: pull {M.registries.publish}:"), lines[:3]
    assert lines[2] in ("  isolation: process", "  isolation: Hyper-V"), lines[:3]
    assert lines[3].startswith("  how sure: ")


def test_which_for_windows_server_2016_is_not_supported_not_unknown(db):
    for spelling in ("2016", "ltsc2016", "10.0.14393", "10.0.14393.7000"):
        result = invoke("which", "--offline", "--node", spelling, "--db", db)
        assert result.returncode == 0, result.stderr
        first = result.stdout.splitlines()[0]
        assert "(10.0.14393" in first and "not supported" in first, first
        assert "≠" not in result.stdout  # neither runtime finds an entry: they do not differ
        assert "no image runs here" in result.stdout
    assert invoke("compat", "--host", "2016", "--image", "2019").returncode == 0
    import json

    answer = json.loads(invoke("which", "--offline", "--node", "2016", "--format", "json", "--db", db).stdout)
    assert answer["supported"] is False and all(a["warnings"] == [] for a in answer["answers"])
    base = invoke("plan", "--base", "2016")
    assert base.returncode == 2 and base.stderr.startswith("error: --base 2016: Windows Server 2016 (10.0.14393) "
                                                           "is not supported")


def test_the_differ_sign_only_where_the_runtimes_differ(db):
    # Windows 10 22H2: Docker Engine takes the 20H2 entry (Hyper-V), containerd none: they differ.
    differ = invoke("which", "--offline", "--node", "win10-22h2", "--db", db).stdout
    assert "  ! ≠ the runtimes differ: Docker Engine takes 20H2; containerd finds no entry" in differ
    same = invoke("which", "--offline", "--node", "2022", "--db", db).stdout
    assert "≠" not in same
    model = table_mod.build_table(M, [], table_mod.Publication("registry.example/argoexec"))
    (old,) = table_mod.resolve(model, table_mod.resolve_node(M, "10.0.14393"), matrix_facts.NEWEST_ARGO)
    assert old.disagreement is None


@pytest.mark.parametrize("alias,release", [("2019", "1809"), ("ltsc2019", "1809"), ("10.0.17763", "1809"),
                                           ("2022", "ltsc2022"), ("2025", "ltsc2025"), ("10.0.26100", "ltsc2025")])
def test_one_vocabulary_for_base_node_host_and_image(alias, release, db):
    plan = invoke("plan", "--base", alias, "--json")
    assert plan.returncode == 0, plan.stderr
    assert '"id": "' + matrix_facts.target_id(release) + '"' in plan.stdout
    build = matrix_facts.BUILDS[release]
    assert invoke("which", "--offline", "--node", alias, "--db", db).stdout == \
        invoke("which", "--offline", "--node", build, "--db", db).stdout.replace(build, build)  # same answer
    compat = invoke("compat", "--host", alias, "--image", alias)
    assert compat.returncode == 0 and compat.stdout.splitlines()[0] == f"image {build} on host {build}"
    table = invoke("table", "--offline", "--host", alias, "--db", db)
    assert table.returncode == 0 and table.stdout.splitlines()[0].endswith(f"build {build}:")


def test_which_against_a_registry_that_never_answers_returns_within_6_s(tmp_path, db):
    silent = SilentServer()  # a registry behind a stuck proxy
    try:
        matrix = tmp_path / "matrix.yaml"
        matrix.write_text(matrix_facts.TEXT.replace("  publish: local\n",
                                                    f"  publish: 127.0.0.1:{silent.port}/argoexec\n"))
        started = time.monotonic()
        result = invoke("which", "--node", "2019", "--matrix", str(matrix), "--db", db,
                        env={**os.environ, "COLUMNS": "80"}, process=True, timeout=60)
        took = time.monotonic() - started
        assert silent.accepted.is_set()  # it was asked
        assert result.returncode == 0, result.stderr
        assert took < 6, f"which took {took:.1f} s"  # the bound (all lookups together: at most 5 s)
        note = result.stderr.strip()
        assert note.startswith(f"note: 127.0.0.1:{silent.port} did not answer within 3 s; --offline skips")
        assert len(note.splitlines()) <= 2 and "Traceback" not in note
        assert result.stdout.splitlines()[1].startswith(f"{matrix_facts.NEWEST_ARGO}: pull 127.0.0.1:")
    finally:
        silent.close()


def test_a_refused_lookup_is_one_short_line(tmp_path, db):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(matrix_facts.TEXT.replace("  publish: local\n", f"  publish: 127.0.0.1:{port}/argoexec\n"))
    result = invoke("which", "--node", "2019", "--matrix", str(matrix), "--db", db, env={**os.environ,
                                                                                          "COLUMNS": "200"})
    assert result.returncode == 0
    assert result.stderr.strip().splitlines() == [f"note: digests not looked up in 127.0.0.1:{port} (Connection "
                                                   "refused); --offline skips the lookup"]
