"""Bad input a user could give: one line, the flag or value named, what to do, and the right exit code."""

from __future__ import annotations

import pytest

from tests.cli import ROOT, invoke

CASES = [
    (("plan", "--base", ","), 2, "error: --base is empty"),
    (("compat", "--host", "10.0.17763"), 2, "error: --host and --image are both required"),
    (("smoke", "--base", "1809", "--timeout", "abc"), 2, "error: --timeout abc: expected a number of seconds"),
    (("smoke", "--base", "1809", "--timeout", "-5"), 2, "error: --timeout -5: expected a number of seconds"),
    (("render", "--check", "--update"), 2, "error: --check and --update exclude each other"),
    (("render", "--check", "--base", "1809"), 2, "error: --check and --update always cover"),
    (("build", "--builder", "oci", "--base", "1809", "--to", "nosuchdest"), 2,
     "error: --to nosuchdest: not a destination of matrix.yaml (local) nor a REGISTRY/REPO"),
    (("push", "--base", "1809", "--to", "locl/argoexec"), 2,
     "error: --to locl/argoexec: 'locl' is not a registry host"),
    (("push", "--base", "1809", "--to", "127.0.0.1:5000/ArgoExec"), 2, "must be lowercase"),
    (("push", "--base", "1809", "--to", "127.0.0.1:5000/argoexec:v1"), 2, "without a tag"),
    (("build", "--base", "1809", "--engine", "/tmp/none.sock"), 2, "error: --engine /tmp/none.sock: not an engine URL"),
    (("build", "--base", "1809", "--engine", "unix:///nonexistent/none.sock"), 4,
     "error: cannot reach the Docker engine at unix:///nonexistent/none.sock"),
    (("build", "--base", "1809", "--host-isolation", "hyper-v"), 2, "error: --host-isolation hyper-v: expected one of"),
    (("build", "--base", "1809", "--argoexec-exe", "/nonexistent/argoexec.exe"), 2,
     "error: --argoexec-exe /nonexistent/argoexec.exe: no such file"),
    (("build", "--base", "1809", "--builder", "podman"), 2, "error: --builder podman: expected one of"),
    (("build", "--builder", "oci", "--base", "1809", "--argoexec-exe", "/bin/true", "--out", "/tmp/aeb-layout"), 2,
     "error: --argoexec-exe /bin/true: a Linux ELF program, given for Windows images"),
    (("table", "--db", "/nonexistent/x.sqlite"), 2, "error: --db /nonexistent/x.sqlite: no such results database"),
    (("table", "--format", "csv"), 2, "error: --format csv: expected text, markdown, json or html"),
    (("table", "--host", "2030"), 2, "error: --host 2030: unknown node; known: 1809, 2019, ltsc2019, 1903"),
    (("which", "--node", "ltsc2030"), 2, "error: --node ltsc2030: unknown node; known: 1809, 2019, ltsc2019"),
    (("compat", "--host", "2030", "--image", "10.0.17763"), 2, "error: --host 2030: unknown node"),
    (("table", "--host", "2025", "--format", "html"), 2, "error: --host answers in text or json"),
    (("results.import",), 2, "error: --dir is required"),
    (("results.import", "--dir", "/nonexistent-records"), 2, "error: /nonexistent-records: no such folder"),
    (("publish", "--readme", str(ROOT / "matrix.yaml"), "--db", "/tmp/aeb-x.sqlite", "--docs", "/tmp/aeb-docs"), 2,
     "section to fill"),
    (("publish", "--to", "Upper/Case", "--docs", "/tmp/aeb-docs", "--readme", ""), 2, "error: --to Upper/Case"),
    (("render", "--out", "/etc/hostname/x"), 2, "error: --out /etc/hostname/x: cannot write there"),
]
# These few also run as a real `python -m invoke` (the rest run in this process, see tests/cli.py): the
# one line and the exit code as a shell sees them, for an option check in tasks.py's task, a nested task
# (results.import) and an engine that cannot be reached (exit 4, through docker-py).
IN_A_REAL_PROCESS = {
    ("compat", "--host", "10.0.17763"),
    ("results.import",),
    ("build", "--base", "1809", "--engine", "unix:///nonexistent/none.sock"),
}
assert IN_A_REAL_PROCESS <= {c[0] for c in CASES}


@pytest.mark.parametrize("args,code,start", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_one_clear_line_and_the_exit_code(args, code, start):
    result = invoke(*args, process=args in IN_A_REAL_PROCESS)
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert start in lines[0]


def test_the_docs_are_not_touched_when_an_input_is_bad(tmp_path):
    result = invoke("publish", "--to", "nosuchdest", "--docs", str(tmp_path / "docs"), "--readme", "",
                    "--db", str(tmp_path / "r.sqlite"))
    assert result.returncode == 2 and not (tmp_path / "docs").exists()


def test_long_flags_only_so_help_is_never_shadowed():
    for task in ("plan", "render", "compat", "table", "build", "push", "publish"):
        result = invoke("--help", task)
        assert result.returncode == 0
        options = result.stdout.split("Options:", 1)[1]
        assert all(line.strip().startswith("--") for line in options.splitlines() if line.strip().startswith("-"))


def test_importing_from_a_missing_folder_creates_no_database(tmp_path):
    db = tmp_path / "results" / "results.sqlite"
    result = invoke("results.import", "--dir", str(tmp_path / "nonexistent"), "--db", str(db))
    assert result.returncode == 2 and "no such folder" in result.stderr
    assert not db.exists() and not db.parent.exists()


def test_an_unreachable_source_registry_says_what_can_be_done_without_it(tmp_path, monkeypatch):
    """The bases' registry (here a loopback port nobody listens on, standing in for mcr.microsoft.com out of
    reach) names the mirror flag; upstream's registry also names --argoexec-exe, or --no-linux for publish."""
    from tests import infra, matrix_facts

    down = f"127.0.0.1:{infra.free_port()}"
    matrix = tmp_path / "matrix.yaml"
    text = matrix_facts.TEXT.replace("  windows: mcr.microsoft.com/windows\n", f"  windows: {down}/windows\n")
    text = text.replace("  argoexec: quay.io/argoproj/argoexec\n", f"  argoexec: {down}/argoproj/argoexec\n")
    matrix.write_text(text)
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    exe = tmp_path / "argoexec.exe"
    exe.write_bytes(b"MZ stand-in")
    bases = invoke("build", "--matrix", str(matrix), "--builder", "oci", "--base", "1909", "--argoexec-exe", str(exe),
                   "--out", str(tmp_path / "oci"))
    assert bases.returncode == 4, bases.stdout + bases.stderr
    (line,) = bases.stderr.strip().splitlines()
    assert line.startswith(f"error: registry {down}: ") and (
        f"; or read {down} through a mirror: --mirror {down}=MIRROR/PATH (or `mirrors:` in {matrix}); or give "
        "argoexec.exe yourself: --argoexec-exe PATH. ") in line
    # With the first thing it could not reach, an offline build learns all it needs (here: only the bases).
    assert line.endswith(f"This build needs from the network: the bases of 1909 from {down} (read; or --mirror "
                         f"{down}=MIRROR/PATH)")
    assert "error (unreachable)" in bases.stdout and "Unreachable" not in bases.stdout  # words, not a class name
    upstream = invoke("build", "--matrix", str(matrix), "--builder", "oci", "--base", "1909", "--binary", "upstream",
                      "--out", str(tmp_path / "oci"))
    assert upstream.returncode == 4 and "give argoexec.exe yourself: --argoexec-exe PATH" in upstream.stderr
