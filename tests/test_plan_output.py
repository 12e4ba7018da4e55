"""`invoke plan` and `invoke table` as people read them: laid out for the terminal's width, in every
--format, and telling the truth about the bases the daemonless oci builder assembles."""

from __future__ import annotations

import json
import os

import pytest
from markdown_it import MarkdownIt

from tests import matrix_facts
from tests.cli import invoke
from tests.matrix_facts import HOSTS, NEWEST_ARGO, RELEASE_NAMES, target_id

# What the nightly's Linux assemble job builds with the project's runners (no runner's engine can).
ASSEMBLED = ("1903", "1909", "2004", "20H2")
EVERY_ID = [target_id(base, argo) for argo in matrix_facts.ARGO_TAGS for base in RELEASE_NAMES]


def run(*args: str, columns: int, matrix=None) -> str:
    extra = ("--matrix", str(matrix)) if matrix else ()
    result = invoke(*args, *extra, env={**os.environ, "COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def with_runner(tmp_path, name: str, build: str, isolation: str = "[process, hyperv]"):
    path = tmp_path / "matrix.yaml"
    runner = (f"  - name: {name}\n    host_build: {build}\n    isolation: {isolation}\n"
              "    labels: [self-hosted, windows, hyperv]\n")
    path.write_text(matrix_facts.TEXT.replace("registries:\n", runner + "\nregistries:\n", 1))
    return path


def longest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


# -- the terminal's width ------------------------------------------------------------------------------


def test_plan_at_80_columns_stacks_one_block_per_target():
    text = run("plan", "--base", "all", "--argo", "all", columns=80)
    assert longest(text) <= 80
    lines = text.splitlines()
    # Every target starts its block, whole, on a line of its own; no table is squeezed into 80 columns.
    assert [line for line in lines if line.startswith("v")] == EVERY_ID
    assert not any(ch in text for ch in "┃│┏")
    block = text.split(target_id("1909") + "\n", 1)[1].split("\n\n", 1)[0]
    assert "  os.version: 10.0.18363" in block and "  build:      oci, on assemble (nightly, Linux)" in block
    # A real process reads COLUMNS the same way.
    real = invoke("plan", "--base", "all", "--argo", "all", env={**os.environ, "COLUMNS": "80"}, process=True)
    assert (real.returncode, real.stdout) == (0, text)


def test_plan_at_200_columns_keeps_the_table():
    text = run("plan", "--base", "all", "--argo", "all", columns=200)
    assert longest(text) <= 200
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "id", "os.version", "base image", "build", "on", "smoke-tested on"]
    rows = [line.strip("│").split("│")[0].strip() for line in text.splitlines() if line.startswith("│")]
    assert rows == EVERY_ID  # one row each, nothing wrapped onto a second line


def _header_cells(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("┃").split("┃")] for line in text.splitlines()
            if line.startswith("┃")]


def test_table_at_80_columns_splits_its_host_columns_and_names_them():
    text = run("table", columns=80)
    assert longest(text) <= 80
    # The compatibility tables; the resolution table (node, each runtime's entry) fits as well, whole.
    headers = [cells for cells in _header_cells(text) if cells[0] == "image (base)"]
    assert text.count("the entry of the one tag each node takes") == len(matrix_facts.ARGO_TAGS)
    assert text.count("Docker Engine takes") == len(matrix_facts.ARGO_TAGS)
    per_argo = len(headers) // len(matrix_facts.ARGO_TAGS)
    assert per_argo > 1  # the host columns in groups, one table below the other
    for number in range(len(matrix_facts.ARGO_TAGS)):
        groups = headers[number * per_argo:(number + 1) * per_argo]
        assert all(group[0] == "image (base)" for group in groups)
        # Every host column once, in the matrix's order, each name whole (never a character per line).
        assert [name for group in groups for name in group[1:]] == [h.name for h in HOSTS]
    # The legend says what each column is.
    for host in HOSTS:
        assert f"{host.name} = {host.label}, {host.build.base}\n" in text
    assert "1809 = Windows Server 2019 (1809), 10.0.17763\n" in text


def test_table_at_200_columns_is_one_table_per_argo_version():
    text = run("table", columns=200)
    assert longest(text) <= 200
    assert [cells for cells in _header_cells(text) if cells[0] == "image (base)"] == \
        [["image (base)", *(h.name for h in HOSTS)]] * len(matrix_facts.ARGO_TAGS)


def test_a_very_narrow_terminal_still_gets_every_line_within_it():
    for args in (("plan", "--base", "all"), ("table", "--argo", NEWEST_ARGO)):
        text = run(*args, columns=30)
        assert longest(text) <= 30
    assert all(f"  {h.name}: P " in text for h in HOSTS)  # the table as one block per image


# -- --format ------------------------------------------------------------------------------------------


OLD_KEYS = {"id", "argo", "os", "base", "os_version", "base_image", "base_tag", "build", "builder", "isolation",
            "runner", "host_build", "smoke", "reason"}


def test_format_json_is_the_json_flag():
    as_flag = invoke("plan", "--base", "all", "--json")
    as_format = invoke("plan", "--base", "all", "--format", "json")
    assert as_flag.returncode == as_format.returncode == 0
    assert as_flag.stdout == as_format.stdout
    plan = json.loads(as_format.stdout)
    assert [p["id"] for p in plan] == [target_id(b) for b in RELEASE_NAMES]
    for entry in plan:
        assert OLD_KEYS | {"built_by", "build_site", "build_site_label", "not_runnable"} == entry.keys()


def _gfm_tables(text: str) -> list[list[list[str]]]:
    """The tables a GFM renderer finds (markdown-it with its table rule), as rows of cell texts."""
    tables, row, cell, rows = [], None, None, None
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            cell = True
        elif token.type == "inline" and cell:
            row.append(token.content)
            cell = False
        elif token.type == "tr_close":
            rows.append(row)
        elif token.type == "table_close":
            tables.append(rows)
    return tables


@pytest.mark.parametrize("format", ["markdown", "github"])
def test_markdown_and_github_are_tables_of_every_target(format):
    result = invoke("plan", "--base", "all", "--argo", "all", "--format", format)
    assert result.returncode == 0, result.stderr
    (table,) = _gfm_tables(result.stdout)
    assert table[0] == ["id", "os.version", "base image", "build", "on", "smoke-tested on"]
    assert [row[0] for row in table[1:]] == [f"`{i}`" for i in EVERY_ID]
    assert all(len(row) == 6 for row in table)
    by_id = {row[0].strip("`"): row for row in table[1:]}
    assert by_id[target_id("1909")][3:] == ["oci", "assemble (nightly, Linux)", "none"]
    assert by_id[target_id("1809")][3:] == ["docker-process", "ws2019", "ws2019 (process)"]
    notes = result.stdout.split("\n\n- ", 1)[1]
    assert f"`{target_id('1909')}`: no runner" in notes
    if format == "github":  # for $GITHUB_STEP_SUMMARY: a heading, counts, the notes folded
        assert result.stdout.startswith("### argoexec build plan\n")
        assert f"{len(EVERY_ID)} target(s): " in result.stdout
        assert "<details><summary>" in result.stdout and result.stdout.rstrip().endswith("</details>")
    else:
        assert "<details>" not in result.stdout and "#" not in result.stdout.split("|", 1)[0]


def test_a_bad_format_is_exit_2_naming_the_choices():
    result = invoke("plan", "--format", "yaml")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: --format yaml: expected text, json, markdown or github"]
    both = invoke("plan", "--json", "--format", "markdown")
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == ["error: --json is --format json: drop --json or --format markdown"]
    assert invoke("plan", "--json", "--format", "json").returncode == 0


# -- the daemonless builder ----------------------------------------------------------------------------


def test_the_plan_says_oci_and_the_assemble_job_for_the_retired_bases():
    plan = {p["base"]: p for p in json.loads(invoke("plan", "--base", "all", "--json").stdout)}
    assert set(ASSEMBLED) <= set(plan)
    for base in ASSEMBLED:
        entry = plan[base]
        assert (entry["built_by"], entry["build_site"]) == ("oci", "assemble")
        assert entry["build_site_label"] == "the nightly's Linux assemble job"
        assert entry["smoke"] == []
        assert entry["not_runnable"] == (f"no runner can smoke-test it (it needs a {entry['os_version']} host, or a "
                                         "newer one with Hyper-V): no runner of the matrix offers Hyper-V isolation")
    assert (plan["1809"]["built_by"], plan["1809"]["build_site"]) == ("docker-process", "ws2019")
    text = run("plan", "--base", ",".join(ASSEMBLED), columns=80)
    assert text.count("build:      oci, on assemble (nightly, Linux)") == len(ASSEMBLED)
    assert text.count("smoke:      none") == len(ASSEMBLED)
    assert "no runner can build it" not in text
    assert "no runner of the matrix offers Hyper-V isolation" in " ".join(text.split())  # wrapped to 80


def test_the_nightly_assembles_exactly_what_the_plan_sends_to_the_assemble_job():
    import os

    planned = json.loads(invoke("plan", "--base", "all", "--argo", "all", "--json").stdout)
    # With every self-hosted runner of the matrix registered, as the nightly is told by its repository variable.
    ci = json.loads(invoke("ci-matrix", "--argo", "all",
                           env={**os.environ, "ARGOEXEC_SELF_HOSTED_RUNNERS": "ws2019"}).stdout)
    assert ci["oci"]["bases"] == ",".join(dict.fromkeys(p["base"] for p in planned if p["build_site"] == "assemble"))
    assert set(ASSEMBLED) <= set(ci["oci"]["bases"].split(","))


def test_on_a_given_host_oci_needs_no_engine():
    plan = {p["base"]: p for p in json.loads(invoke("plan", "--base", "1809,1909", "--host-build", "10.0.17763",
                                                    "--json").stdout)}
    assert (plan["1909"]["build"], plan["1909"]["built_by"], plan["1909"]["build_site"]) == ("none", "oci", "anywhere")
    assert plan["1909"]["not_runnable"] == "image build 18363 is newer than the host build 17763"
    assert (plan["1809"]["built_by"], plan["1809"]["build_site"]) == ("docker-process", "local")
    text = run("plan", "--base", "1809,1909", "--host-build", "10.0.17763", columns=200)
    row = next(line for line in text.splitlines() if target_id("1909") in line and line.startswith("│"))
    assert [cell.strip() for cell in row.strip("│").split("│")][3:] == [
        "oci (no engine needed)", "any machine", "none *"]
    assert "no smoke test: image build 18363 is newer than the host build 17763" in text


def test_a_hyperv_runner_in_the_matrix_is_where_they_are_smoke_tested(tmp_path):
    path = with_runner(tmp_path, "hv2025", "10.0.26100")
    plan = {p["base"]: p for p in json.loads(invoke("plan", "--matrix", str(path), "--base", "all",
                                                    "--json").stdout)}
    for base in ASSEMBLED:
        assert plan[base]["smoke"] == [{"runner": "hv2025", "isolation": "hyperv", "host_build": "10.0.26100"}]
        assert plan[base]["not_runnable"] is None
    text = run("plan", "--base", ",".join(ASSEMBLED), columns=80, matrix=path)
    assert text.count("smoke:      hv2025 (hyperv)") == len(ASSEMBLED)


def test_a_hyperv_runner_too_old_to_run_them_is_named_with_the_rule(tmp_path):
    path = with_runner(tmp_path, "hv2019", "10.0.17763")
    plan = {p["base"]: p for p in json.loads(invoke("plan", "--matrix", str(path), "--base", "all",
                                                    "--json").stdout)}
    for base in ASSEMBLED:
        build = plan[base]["os_version"].split(".")[2]
        assert (plan[base]["built_by"], plan[base]["build_site"], plan[base]["smoke"]) == ("oci", "assemble", [])
        assert plan[base]["not_runnable"].endswith(f": hv2019: image build {build} is newer than the host build 17763")
    # The 1809 image runs there too, with process isolation: hv2019 is one of its smoke sites.
    assert {"runner": "hv2019", "isolation": "process", "host_build": "10.0.17763"} in plan["1809"]["smoke"]
