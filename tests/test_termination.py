"""SIGTERM (a cancelled CI job, ``docker stop``) during a write: the run cleans up like Ctrl-C,
says so in one line and exits 143; temporary files are git-ignored, and stale ones are swept by the next write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from builder import files
from tests.cli import ROOT

# The write is made to stall once its temporary file is written (os.replace waits), so that the signal lands
# exactly there: constructed timing, the real task, the real process and its real signal handling.
STALLED_RUN = textwrap.dedent("""
    import os, sys, time
    real = os.replace
    def stalled(source, target, *args, **kwargs):
        if str(source).endswith(".part"):
            print("part written", flush=True)
            time.sleep(120)
        return real(source, target, *args, **kwargs)
    os.replace = stalled
    from invoke.main import program
    program.run(["invoke", *sys.argv[1:]])
""")


def test_sigterm_during_a_write_removes_the_temporary_file_and_exits_143(tmp_path):
    out = tmp_path / "rendered"
    process = subprocess.Popen([sys.executable, "-c", STALLED_RUN, "render", "--base", "ltsc2022", "--out", str(out)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ))
    try:
        assert process.stdout.readline().strip() == "part written"
        assert list(out.rglob("*.part")), "the temporary file should exist while the write stalls"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip() == "error: terminated (SIGTERM); what the run was writing is removed"
    assert not list(out.rglob("*.part"))


def test_temporary_files_are_ignored_by_git(tmp_path):
    for name in ("docs/.compatibility.md.0123456789abcdef.part", ".matrix.lock.json.0123456789abcdef.part"):
        checked = subprocess.run(["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT)
        assert checked.returncode == 0, f"{name} is not git-ignored"


def test_the_next_write_sweeps_stale_temporary_files_only(tmp_path):
    target = tmp_path / "matrix.lock.json"
    stale = tmp_path / ".matrix.lock.json.00112233aabbccdd.part"
    fresh = tmp_path / ".matrix.lock.json.44556677eeff0011.part"  # a writer at work right now
    other = tmp_path / ".compatibility.md.8899aabbccddeeff.part"
    for path in (stale, fresh, other):
        path.write_text("half")
    old = time.time() - files.STALE_PART_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    files.write_atomically(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert not stale.exists() and fresh.exists()
    assert other.exists()  # another file's leftovers are swept when that file is written
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == sorted([target.name, fresh.name, other.name])
