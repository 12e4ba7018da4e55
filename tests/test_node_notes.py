"""What node owners cannot see from the rules (builder/node_notes.py): the warnings as data, and where they show."""

from __future__ import annotations

import json

from builder import node_notes
from builder.compat import WindowsBuild
from builder.lock import Lock, LockedBase, write_lock
from builder.matrix import load_matrix
from tests.cli import ROOT, invoke

SKEW = ("image revision 2966 is newer than host revision 100: process isolation may fail until the host is "
        "patched")


def test_revision_skew_needs_both_revisions_and_the_same_build():
    host = WindowsBuild.parse("10.0.20348.100")
    assert node_notes.revision_skew("10.0.20348.2966", host) == SKEW
    assert node_notes.revision_skew("10.0.20348.100", host) is None  # as new
    assert node_notes.revision_skew("10.0.20348.99", host) is None  # older image
    assert node_notes.revision_skew("10.0.20348", host) is None  # image revision unknown
    assert node_notes.revision_skew("10.0.20348.2966", WindowsBuild.parse("10.0.20348")) is None  # host's unknown
    assert node_notes.revision_skew("10.0.17763.6893", host) is None  # another build: the rules' business


def test_a_failure_log_with_0xc0370106_is_revision_skew():
    log = "hcs::System::Start: failure in a Windows system call: The virtual machine or container exited " \
          "unexpectedly. (0xc0370106)"
    assert node_notes.is_revision_skew_failure(log)
    assert node_notes.is_revision_skew_failure(log.upper())
    assert not node_notes.is_revision_skew_failure("exit code 1")


def test_initless_from_v4_1_and_25h2_reported_failing():
    assert node_notes.initless("v4.1.2") and "containerd#11903" in node_notes.initless("v4.1.2")
    assert node_notes.initless("v4.0.10") is None and node_notes.initless("v3.7.18") is None
    assert node_notes.reported_failing(26200, 26100) == node_notes.REPORTED_25H2
    assert "https://github.com/microsoft/hcsshim/issues/2566" in node_notes.REPORTED_25H2
    assert node_notes.reported_failing(26200, 20348) is None and node_notes.reported_failing(26100, 26100) is None


def _matrix_with_lock(tmp_path, release: str, os_version: str):
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text((ROOT / "matrix.yaml").read_text())
    loaded = load_matrix(matrix_file, lock=False)
    # A lock as refresh writes it pins every base the matrix names (one that lacks a base is an error under
    # CI=true): each at its release's build, and ``release``'s nanoserver at ``os_version``.
    pins = {}
    for each in loaded.releases:
        for flavour in ("nanoserver", "servercore"):
            pins[loaded.base_key(each, flavour)] = LockedBase("sha256:" + "cd" * 32, f"{each.build}.1")
        if each.source_builder:
            pins[each.source_builder] = LockedBase("sha256:" + "ef" * 32, f"{each.build}.1")
    (found,) = [r for r in loaded.releases if r.name == release]
    pins[loaded.base_key(found, "nanoserver")] = LockedBase("sha256:" + "ab" * 32, os_version)
    write_lock(tmp_path / "matrix.lock.json", Lock(str(tmp_path / "matrix.lock.json"), pins))
    return matrix_file


def _which(tmp_path, matrix_file, node: str, *args: str):
    import os

    lock = matrix_file.with_name("matrix.lock.json")
    # Wide enough that no warning is wrapped: the lines are compared whole.
    env = {**os.environ, "ARGOEXEC_BUILDER_LOCK": str(lock) if lock.is_file() else "none", "COLUMNS": "400"}
    result = invoke("which", "--node", node, "--matrix", str(matrix_file), "--offline", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_which_flags_the_revision_from_the_lock(tmp_path):
    matrix_file = _matrix_with_lock(tmp_path, "ltsc2022", "10.0.20348.2966")
    text = _which(tmp_path, matrix_file, "10.0.20348.100", "--argo", "v4.0.10")
    assert f"  ! {SKEW}" in text.splitlines()
    answers = json.loads(_which(tmp_path, matrix_file, "10.0.20348.100", "--format", "json"))["answers"]
    assert all(SKEW in a["warnings"] for a in answers)
    # A node given without its revision: nothing to compare.
    assert "revision" not in _which(tmp_path, matrix_file, "10.0.20348", "--argo", "v4.0.10")


def test_which_says_init_less_mode_cannot_run_on_ltsc2022(tmp_path):
    (tmp_path / "matrix.yaml").write_text((ROOT / "matrix.yaml").read_text())
    text = _which(tmp_path, tmp_path / "matrix.yaml", "ltsc2022")
    v41 = text.split("\nv4.1.2:")[1].split("\nv4.0.10:")[0]
    assert "  ! init-less mode cannot run here" in v41 and "containerd#11903" in v41
    assert "init-less" not in text.split("\nv4.0.10:")[1]  # no such layout before v4.1


def test_which_on_windows_11_25h2_cites_hcsshim_2566(tmp_path):
    (tmp_path / "matrix.yaml").write_text((ROOT / "matrix.yaml").read_text())
    text = _which(tmp_path, tmp_path / "matrix.yaml", "10.0.26200", "--argo", "v4.0.10")
    assert "v4.0.10-windows-ltsc2025" in text  # what the rules pick
    assert "  ! reported failing: ltsc2025" in text and "hcsshim#2566" in text
    assert "https://github.com/microsoft/hcsshim/issues/2566" in text


def test_plan_for_a_host_with_its_revision_flags_the_skew(tmp_path):
    import os

    matrix_file = _matrix_with_lock(tmp_path, "ltsc2022", "10.0.20348.2966")
    env = {**os.environ, "ARGOEXEC_BUILDER_LOCK": str(tmp_path / "matrix.lock.json")}
    result = invoke("plan", "--matrix", str(matrix_file), "--base", "ltsc2022", "--argo", "v4.0.10",
                    "--host-build", "10.0.20348.100", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [f"warning: v4.0.10-windows-ltsc2022: {SKEW}"]
    patched = invoke("plan", "--matrix", str(matrix_file), "--base", "ltsc2022", "--argo", "v4.0.10",
                     "--host-build", "10.0.20348.3000", env=env)
    assert patched.returncode == 0 and "revision" not in patched.stderr


def test_doctor_flags_a_host_older_than_the_locked_bases(tmp_path):
    """The replayed 2022 engine's host is 10.0.20348.169 (its /info's OperatingSystem, constructed)."""
    import os

    from tests.windows_engine import WINDOWS_2022, WindowsEngineReplay

    matrix_file = _matrix_with_lock(tmp_path, "ltsc2022", "10.0.20348.2966")
    env = {**os.environ, "ARGOEXEC_BUILDER_LOCK": str(tmp_path / "matrix.lock.json")}
    env.pop("RUNNER_ENVIRONMENT", None)
    with WindowsEngineReplay(WINDOWS_2022, {}) as engine:
        result = invoke("doctor", "--engine", engine.url, "--matrix", str(matrix_file), "--json", env=env)
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    revision = checks["revision"]
    assert revision["status"] == "warn"
    assert revision["message"] == ("mcr.microsoft.com/windows/nanoserver:ltsc2022: image revision 2966 is newer than "
                                   "host revision 169: process isolation may fail until the host is patched")


def test_the_table_carries_the_warnings_in_every_format(tmp_path):
    """init-less and hcsshim#2566 always; revision skew for a verified cell whose host (from its records) is older
    than the lock's image."""
    from rich.console import Console

    from builder import checks, table, table_formats

    matrix_file = _matrix_with_lock(tmp_path, "ltsc2022", "10.0.20348.2966")
    loaded = load_matrix(matrix_file, lock=tmp_path / "matrix.lock.json")
    records = [{"target": "v4.1.2-windows-ltsc2022", "argo": "v4.1.2", "os": "windows", "base": "ltsc2022",
                "check": name, "status": "pass", "isolation": "process", "host_os_version": "10.0.20348.100",
                "runner": "windows-2022", "started_at": "2026-12-01T00:00:00Z", "image_digest": "sha256:" + "cd" * 32,
                "engine_version": "24.0.7"} for name in checks.smoke_names("windows")]
    built = table.build_table(loaded, records)
    skew = f"v4.1.2-windows-ltsc2022 on 2022 (10.0.20348.100): {SKEW}"
    assert skew in built.warnings
    assert any("init-less mode cannot run on Windows nodes" in w for w in built.warnings)
    assert any("hcsshim#2566" in w for w in built.warnings)
    markdown = table_formats.to_markdown(built)
    assert f"- {skew}" in markdown and "https://github.com/microsoft/hcsshim/issues/2566" in markdown
    assert skew in json.loads(table_formats.to_json(built))["warnings"]
    html = table_formats.to_html(built)
    assert "github.com/microsoft/hcsshim/issues/2566" in html and "image revision 2966 is newer" in html
    console = Console(width=200, record=True, file=open(tmp_path / "out.txt", "w"))
    table_formats.to_text(built, console)
    text = console.export_text()
    assert f"warning: {skew}" in text and "warning: Windows 11 25H2 (10.0.26200): reported failing" in text
