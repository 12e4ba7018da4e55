"""`invoke plan`: targets, builds, runner routing and selection, as a user runs it."""

from __future__ import annotations

import fnmatch
import json
import os

import pytest

from tests import matrix_facts
from tests.cli import invoke
from tests.matrix_facts import NEWEST_ARGO, RELEASE_NAMES, RELEASES, target_id

MATRIX = matrix_facts.TEXT


def plan_json(*args: str) -> list[dict]:
    result = invoke("plan", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_lists_every_base_with_its_build():
    plan = plan_json("--base", "all")
    assert [(p["base"], p["os_version"]) for p in plan] == [(r.name, r.build.base) for r in RELEASES]
    assert {p["base"]: p["os_version"] for p in plan}["1909"] == "10.0.18363"
    for entry, release in zip(plan, RELEASES, strict=True):
        assert entry["id"] == target_id(release.name)
        assert entry["argo"] == NEWEST_ARGO and entry["os"] == "windows"
        assert entry["base_image"] == f"mcr.microsoft.com/windows/nanoserver:{release.nanoserver}"
        assert {"build", "runner", "smoke", "reason"} <= entry.keys()


def test_plan_routes_each_base_to_a_runner_that_can_build_it():
    plan = {p["base"]: p for p in plan_json("--base", "all")}
    assert (plan["1809"]["build"], plan["1809"]["runner"]) == ("docker-process", "ws2019")
    assert (plan["ltsc2022"]["build"], plan["ltsc2022"]["runner"]) == ("docker-process", "windows-2022")
    assert (plan["ltsc2025"]["build"], plan["ltsc2025"]["runner"]) == ("docker-process", "windows-2025")
    # ltsc2022 images run on both hosted runners (2025 hosts run 20348..26100 with process isolation).
    assert plan["ltsc2022"]["smoke"] == [
        {"runner": "windows-2022", "isolation": "process", "host_build": "10.0.20348"},
        {"runner": "windows-2025", "isolation": "process", "host_build": "10.0.26100"},
    ]
    assert plan["1809"]["smoke"] == [{"runner": "ws2019", "isolation": "process", "host_build": "10.0.17763"}]
    # Every other base (the retired 1903, 1909, 2004 and 20H2 among them): no runner's host can build it.
    unbuilt = [base for base in RELEASE_NAMES if base not in ("1809", "ltsc2022", "ltsc2025")]
    assert {"1903", "1909", "2004", "20H2"} <= set(unbuilt)
    for base in unbuilt:
        assert plan[base]["build"] == "none" and plan[base]["runner"] is None and plan[base]["smoke"] == []
        assert plan[base]["builder"] == "oci"  # what --builder auto falls back to
        assert "refuses to pull" in plan[base]["reason"] and "Hyper-V" in plan[base]["reason"]
    assert plan["1809"]["builder"] == "docker"


def test_plan_on_a_2019_host():
    plan = {p["base"]: p for p in plan_json("--base", "all", "--host-build", "10.0.17763")}
    assert plan["1809"]["build"] == "docker-process" and plan["1809"]["reason"] is None
    assert plan["1909"]["build"] == "none"
    assert "refuses to pull" in plan["1909"]["reason"] and "10.0.18363" in plan["1909"]["reason"]
    assert plan["ltsc2025"]["build"] == "none"


def test_plan_on_a_2022_host_with_and_without_hyperv():
    with_hyperv = {p["base"]: p for p in plan_json("--base", "1809", "--host-build", "10.0.20348.169")}
    assert with_hyperv["1809"]["build"] == "docker-hyperv"
    assert with_hyperv["1809"]["smoke"][0]["isolation"] == "hyperv"
    process_only = plan_json("--base", "1809", "--host-build", "10.0.20348", "--host-isolation", "process")
    assert process_only[0]["build"] == "none" and "Hyper-V isolation is not offered" in process_only[0]["reason"]


def test_a_hyperv_runner_builds_and_smoke_tests_retired_releases(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("registries:\n", "  - name: hv2022\n    host_build: 10.0.20348\n"
                                   "    isolation: [process, hyperv]\n    labels: [self-hosted, windows, hyperv]\n"
                                   "\nregistries:\n", 1))
    plan = {p["base"]: p for p in plan_json("--matrix", str(path), "--base", "all")}
    assert (plan["1909"]["build"], plan["1909"]["runner"]) == ("docker-hyperv", "hv2022")
    assert plan["1909"]["smoke"] == [{"runner": "hv2022", "isolation": "hyperv", "host_build": "10.0.20348"}]
    assert plan["1909"]["reason"] is None
    # Process isolation still wins where a runner offers it.
    assert (plan["1809"]["build"], plan["1809"]["runner"]) == ("docker-process", "ws2019")


def test_selection_by_argo_only_and_skip():
    every = plan_json("--base", "all", "--argo", "all")
    # Argo version by argo version (newest first, as matrix.yaml lists them), every base in each.
    assert [p["id"] for p in every] == [target_id(b, a) for a in matrix_facts.ARGO_TAGS for b in RELEASE_NAMES]
    assert {p["argo"] for p in every} >= {"v4.1.2", "v4.0.10", "v3.7.18"}
    only = plan_json("--base", "all", "--argo", "all", "--only", "v4.*-windows-ltsc*")
    expected = [p["id"] for p in every if fnmatch.fnmatchcase(p["id"], "v4.*-windows-ltsc*")]
    assert expected[:2] == ["v4.1.2-windows-ltsc2022", "v4.1.2-windows-ltsc2025"]
    assert {"v4.0.10-windows-ltsc2022", "v4.0.10-windows-ltsc2025"} <= set(expected)
    assert not any(i.startswith("v3.") or "-windows-ltsc" not in i for i in expected)
    assert [p["id"] for p in only] == expected
    skipped = plan_json("--base", "all", "--skip", "*-19*", "--skip", "*-20*")
    kept = [b for b in RELEASE_NAMES if not any(fnmatch.fnmatchcase(target_id(b), p) for p in ("*-19*", "*-20*"))]
    assert kept[:1] == ["1809"] and {"ltsc2022", "ltsc2025"} <= set(kept)
    assert not {"1903", "1909", "2004", "20H2"} & set(kept)
    assert [p["base"] for p in skipped] == kept
    repeated = plan_json("--base", "1809", "--base", "ltsc2025", "--argo", "3.7.18")
    assert [p["id"] for p in repeated] == ["v3.7.18-windows-1809", "v3.7.18-windows-ltsc2025"]


def test_bases_are_found_by_alias_and_case():
    assert [p["base"] for p in plan_json("--base", "ltsc2019,20h2,2022")] == ["1809", "20H2", "ltsc2022"]


def test_unknown_base_names_the_known_ones():
    result = invoke("plan", "--base", "1919")
    assert result.returncode == 2
    # Every release by build, each with its aliases.
    known = ", ".join(r.name + (f" ({'/'.join(r.aliases)})" if r.aliases else "")
                      for r in sorted(RELEASES, key=lambda r: r.build))
    assert known.startswith("1809 (ltsc2019), 1903, 1909, 2004, 20H2, ltsc2022 (2022), ltsc2025 (2025)")
    assert result.stderr.strip().splitlines() == [
        f"error: --base 1919: unknown Windows base in matrix.yaml; known bases: {known}, or all"]


def test_unknown_argo_version():
    result = invoke("plan", "--argo", "v9.9.9")
    assert result.returncode == 2
    assert f"known versions: {', '.join(matrix_facts.ARGO_TAGS)}, or all" in result.stderr
    assert {"v4.1.2", "v4.0.10", "v3.7.18"} <= set(matrix_facts.ARGO_TAGS)


def test_a_selection_that_matches_nothing_exits_3():
    result = invoke("plan", "--base", "1809", "--only", "*-ltsc*")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no target matches --base 1809")


def test_text_plan_shows_why_not():
    result = invoke("plan", "--base", "1809,1909", env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    assert "v4.1.2-windows-1809" in result.stdout and "docker-process" in result.stdout
    # 1909 is built, by the oci builder: the text says so, and why no runner's Docker engine does.
    assert "no runner can build it" not in result.stdout
    assert "v4.1.2-windows-1909: no runner's Docker engine can build it" in result.stdout


def test_every_task_is_listed_with_a_description():
    result = invoke("--list")
    assert result.returncode == 0
    for name in ("plan", "compat"):
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split()) > 2, line


@pytest.mark.parametrize("task", ["plan", "compat"])
def test_every_flag_has_help(task):
    result = invoke("--help", task)
    assert result.returncode == 0
    options = result.stdout.split("Options:", 1)[1]
    flags = [line for line in options.splitlines() if line.strip().startswith("-")]
    assert flags and all(len(line.split("  ")) > 1 and line.split("  ")[-1].strip() for line in flags), options


def test_output_parameter_is_planned_for_every_windows_runner():
    """Every runner that smoke-tests a Windows target runs the output-parameter check on it, with a Windows path."""
    from builder import checks
    from builder.matrix import load_matrix
    from builder.plan import make_plan
    from builder.targets import all_targets

    matrix = load_matrix(None)
    windows = [p for p in make_plan(matrix, all_targets(matrix)) if p.target.is_windows]
    runners = {site.runner for p in windows for site in p.smoke}
    assert runners == {r.name for r in matrix.runners}  # every Windows runner smoke-tests something
    for p in windows:
        assert "output-parameter" in [c.name for c in checks.smoke_checks(p.target)]
        path, _ = checks.OUTPUT_PARAMETER_CHECK.output_parameter(p.target)
        assert path.startswith("C:\\")
