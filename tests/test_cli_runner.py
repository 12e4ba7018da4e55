"""tests/cli.py runs the tasks in this process: it must answer exactly what a real `python -m invoke` answers.

Each case below runs both ways, and the exit code, stdout and stderr must be the same: success (a rich
table, wide in a pipe or as wide as COLUMNS; invoke's own help), invoke's parse error (1), a target that
failed (1), nothing selected (3), an exception nothing planned for (one line, or the traceback with
ARGOEXEC_BUILDER_DEBUG) and a warning on stderr. Bad input (2) and an unreachable engine (4) run as real
processes in tests/test_bad_input.py. Then what an in-process run must leave as it found it.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import os
import subprocess
import sys
import threading

import pytest

import builder
from builder import pipeline
from tests.cli import ROOT, invoke

CASES = [
    (("plan", "--base", "1809,1909"), None, 0),  # rich table, 200 columns in a pipe
    (("plan", "--base", "1809"), {"COLUMNS": "100"}, 0),  # rich table as wide as COLUMNS
    (("--help", "build"), None, 0),
    (("plan", "--no-such-flag"), None, 1),  # invoke's parse error
    (("plan", "--base", "1809", "--only", "*-ltsc*"), None, 3),
]


def _outcome(result: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("args,extra_env,code", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_in_process_answers_what_a_real_process_answers(args, extra_env, code):
    env = {**os.environ, **extra_env} if extra_env else None
    in_process, real = invoke(*args, env=env), invoke(*args, env=env, process=True)
    assert _outcome(in_process) == _outcome(real)
    assert real.returncode == code, real.stdout + real.stderr


def test_a_failed_target_exits_1_the_same_way(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "broken.json").write_text("{not json")
    (folder / "no-fields.json").write_text(json.dumps({"status": "pass"}))
    args = ("results.import", "--dir", str(folder), "--db", str(tmp_path / "r.sqlite"))
    in_process, real = invoke(*args), invoke(*args, process=True)
    assert _outcome(in_process) == _outcome(real)
    assert real.returncode == 1 and real.stderr.startswith("error: 2 result record(s) were malformed"), real.stderr


# The plan task replaced by the same function in this process (monkeypatch) and in a real one (the patch,
# then Program.run() as invoke/__main__.py calls it).
MESSAGE = "the matrix said 42"
PATCHED_PROGRAM = ("import warnings\n"
                   "import builder.pipeline\n"
                   "def plan_task(*args, **kwargs):\n"
                   "    {body}\n"
                   "builder.pipeline.plan_task = plan_task\n"
                   "from invoke.main import program\n"
                   "program.run()\n")
RAISE = f"raise RuntimeError({MESSAGE!r})"
WARN = "warnings.warn('careful', UserWarning)"


def _both_with_plan_task(monkeypatch, body: str, env: dict[str, str]):
    real = subprocess.run([sys.executable, "-c", PATCHED_PROGRAM.format(body=body), "plan"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)
    namespace: dict = {}
    exec(PATCHED_PROGRAM.format(body=body).split("builder.pipeline.plan_task =")[0], namespace)  # the same def
    monkeypatch.setattr(pipeline, "plan_task", namespace["plan_task"])
    return invoke("plan", env=env), real


def test_an_unexpected_exception_is_one_line_the_same_way(monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "ARGOEXEC_BUILDER_DEBUG"}
    in_process, real = _both_with_plan_task(monkeypatch, RAISE, env)
    assert _outcome(in_process) == _outcome(real)
    assert real.returncode == 1 and real.stderr == (
        f"error: unexpected RuntimeError: {MESSAGE}; run again with ARGOEXEC_BUILDER_DEBUG=1 for a traceback "
        "and report it\n")


def test_argoexec_builder_debug_gives_the_traceback_the_same_way(monkeypatch):
    in_process, real = _both_with_plan_task(monkeypatch, RAISE, {**os.environ, "ARGOEXEC_BUILDER_DEBUG": "1"})
    assert (in_process.returncode, in_process.stdout) == (real.returncode, real.stdout) == (1, "")
    for result in (real, in_process):
        assert result.stderr.startswith("Traceback (most recent call last):\n"), result.stderr
        assert result.stderr.endswith(f'\n  File "<string>", line 4, in plan_task\nRuntimeError: {MESSAGE}\n')
    # The frame that calls Program.run differs (the -c script's, tests/cli.py's); from there on they match.
    below = [r.stderr[r.stderr.index('invoke/program.py", line'):] for r in (in_process, real)]
    assert below[0] == below[1]
    assert "ARGOEXEC_BUILDER_DEBUG" not in os.environ


def test_a_warning_is_printed_on_stderr_the_same_way(monkeypatch):
    """A real process prints a warning on its stderr (Python's default filters); pytest would record it."""
    in_process, real = _both_with_plan_task(monkeypatch, WARN, dict(os.environ))
    assert _outcome(in_process) == _outcome(real) == (0, "", "<string>:4: UserWarning: careful\n")


class _Stop(BaseException):
    """Like pytest's own stops (a failure, a timeout): not the task's to catch, nor the runner's."""


def test_the_process_state_is_put_back_even_when_the_run_is_stopped(monkeypatch, tmp_path):
    def stop(*args, **kwargs):
        assert os.getcwd() == str(ROOT) and os.environ["ARGOEXEC_TEST_MARK"] == "1"
        os.environ["SET_BY_THE_TASK"] = "1"
        raise _Stop

    monkeypatch.setattr(pipeline, "plan_task", stop)
    monkeypatch.chdir(tmp_path)
    before = (dict(os.environ), list(sys.path), sys.dont_write_bytecode, sys.stdout, sys.stderr)
    with pytest.raises(_Stop):
        invoke("plan", env={**os.environ, "ARGOEXEC_TEST_MARK": "1"})
    assert (dict(os.environ), list(sys.path), sys.dont_write_bytecode, sys.stdout, sys.stderr) == before
    assert os.getcwd() == str(tmp_path)


def test_a_variable_a_task_sets_does_not_outlive_its_run(monkeypatch):
    def set_one(*args, **kwargs):
        os.environ["SET_BY_THE_TASK"] = "1"

    monkeypatch.setattr(pipeline, "plan_task", set_one)
    assert invoke("plan").returncode == 0
    assert "SET_BY_THE_TASK" not in os.environ


def test_each_run_starts_from_empty_caches(monkeypatch):
    @functools.cache
    def cached(value: int) -> int:
        return value

    monkeypatch.setattr(builder, "_runner_probe", cached, raising=False)
    cached(1)
    assert invoke("--help", "plan").returncode == 0
    assert cached.cache_info().currsize == 0


def test_the_run_captures_its_own_threads_and_not_the_tests(monkeypatch, capsys):
    """A test's server thread that prints while a task runs (a traceback of a connection cut short) does not
    land in the task's output: it could not reach a real process's pipes. Threads the task starts do."""
    printing, printed = threading.Event(), threading.Event()

    def tests_thread():
        printing.wait(10)
        print("a test's thread", file=sys.stderr)
        printed.set()

    def plan_task(*args, **kwargs):
        printing.set()
        assert printed.wait(10)
        workers = [threading.Thread(target=print, args=(f"the task's thread {n}",)) for n in range(2)]
        for worker in workers:
            worker.start()
            worker.join()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(print, "the task's pool", file=sys.stderr).result()
        print("the task")

    threading.Thread(target=tests_thread, daemon=True).start()
    monkeypatch.setattr(pipeline, "plan_task", plan_task)
    result = invoke("plan")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "the task's thread 0\nthe task's thread 1\nthe task\n", "the task's pool\n")
    assert capsys.readouterr().err == "a test's thread\n"


def test_what_only_a_real_process_can_do_must_say_so():
    with pytest.raises(ValueError, match="process=True"):
        invoke("plan", timeout=5)
    with pytest.raises(ValueError, match="PYTHONPATH act when the interpreter starts"):
        invoke("plan", env={**os.environ, "PYTHONPATH": str(ROOT)})
