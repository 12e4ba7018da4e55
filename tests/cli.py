"""Run the tasks the way a user does: ``invoke TASK ...`` in the project directory.

``invoke(*args)`` runs them in this process, through the same ``Program`` as ``python -m invoke``
(invoke/main.py: it finds and loads tasks.py from the project directory, its core flags and help
are invoke's own), with stdout and stderr captured, the project directory as the working directory and ``env``
(when given) as the whole environment. It answers what a real process would: a
``CompletedProcess`` with the same exit code (invoke's ``Exit`` code, 1 for a parse error, 1 and a
traceback on stderr for an exception nothing caught), the same stdout and the same stderr. That
saves the interpreter start and the imports (docker, rich, requests...) of every call.

What is captured is what the run writes to sys.stdout and sys.stderr: from the calling thread and
the threads it starts. Another thread of this process (a test's server, or one left over from an
earlier test, printing a traceback) writes where it would have, as it could not write into a real
process's pipes. Not captured: a child process the tool starts with inherited stdout/stderr (the
tool captures all of theirs today), or anything written to file descriptors 1 and 2 directly.

``invoke(*args, process=True)`` runs a real ``python -m invoke`` instead. Use it where a process
is the point: the exit code seen end to end, a ``timeout`` that must be enforced, several runs at
once, signals, environment variables the interpreter reads at start (PYTHONPATH...), output written
straight to the file descriptors.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import traceback
import warnings
from pathlib import Path

from invoke import Program
from invoke import __version__ as invoke_version

ROOT = Path(__file__).resolve().parent.parent

# What the interpreter reads when it starts, so an in-process run cannot honour it.
_STARTUP_ENV_PREFIX = "PYTHON"
# Python's default warning filters (no -W, no PYTHONWARNINGS, no dev mode): a real process prints
# whatever these let through on its stderr; pytest would otherwise record the warnings instead.
_DEFAULT_WARNING_FILTERS = (("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, ""),
                            ("ignore", PendingDeprecationWarning, ""), ("ignore", ImportWarning, ""),
                            ("ignore", ResourceWarning, ""))


def invoke(*args: str, env: dict[str, str] | None = None, timeout: float | None = None,
           process: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "invoke", *args]
    if process:
        # os.environ, not the C-level environment a child inherits by default: under pytest the latter
        # also holds the COLUMNS and LINES that readline sets behind Python's back (rich would then
        # print 80 columns wide, where a pipe in CI gets 200).
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                              timeout=120 if timeout is None else timeout, env=dict(os.environ) if env is None else env)
    if timeout is not None:
        raise ValueError("a timeout is only enforced on a real process: pass process=True")
    if env is not None:
        startup = sorted(name for name in {*env, *os.environ} if name.startswith(_STARTUP_ENV_PREFIX)
                         and env.get(name) != os.environ.get(name))
        if startup:
            raise ValueError(f"{', '.join(startup)} act when the interpreter starts: pass process=True")
    returncode, stdout, stderr = _run_in_process(["invoke", *args], env)
    return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


def _run_in_process(argv: list[str], env: dict[str, str] | None) -> tuple[int, str, str]:
    """Program.run as ``python -m invoke`` does it, from empty caches; the process-wide state it touches
    (environment, working directory, sys.path, sys.dont_write_bytecode, warning filters) is put back."""
    stdout, stderr = _Capture(sys.stdout), _Capture(sys.stderr)
    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    saved_dont_write_bytecode = sys.dont_write_bytecode  # Program.run sets it from --write-pyc
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(ROOT)
        _clear_caches()
        with _threads_of_the_run(), warnings.catch_warnings(), contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            warnings.resetwarnings()
            for action, category, module in reversed(_DEFAULT_WARNING_FILTERS):
                warnings.filterwarnings(action, category=category, module=module)
            warnings.showwarning = _print_warning
            returncode = _exit_status(argv, stderr)
    finally:
        sys.dont_write_bytecode = saved_dont_write_bytecode
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        if os.environ != saved_env:  # env given, or a task that set a variable
            os.environ.clear()
            os.environ.update(saved_env)
    return returncode, stdout.getvalue(), stderr.getvalue()


_OF_THE_RUN = "_of_the_in_process_run"  # set on the threads a run starts (and on the ones they start)


class _Capture(io.StringIO):
    """What the run writes; another thread's writes go where they went before the run."""

    def __init__(self, elsewhere) -> None:
        super().__init__()
        self._caller = threading.get_ident()
        self._elsewhere = elsewhere

    def write(self, text: str) -> int:
        if threading.get_ident() == self._caller or getattr(threading.current_thread(), _OF_THE_RUN, False):
            return super().write(text)
        return self._elsewhere.write(text)


@contextlib.contextmanager
def _threads_of_the_run():
    """Mark each thread started by the calling thread, or by a thread so marked, as the run's."""
    caller, start = threading.get_ident(), threading.Thread.start

    def marking_start(thread: threading.Thread) -> None:
        if threading.get_ident() == caller or getattr(threading.current_thread(), _OF_THE_RUN, False):
            setattr(thread, _OF_THE_RUN, True)
        start(thread)

    threading.Thread.start = marking_start
    try:
        yield
    finally:
        threading.Thread.start = start


def _clear_caches() -> None:
    """Empty the functools caches (lru_cache, cache) of the tool's modules, as a new process has them."""
    for name, module in list(sys.modules.items()):
        if module is None or name not in ("tasks", "builder") and not name.startswith("builder."):
            continue
        for value in list(vars(module).values()):
            owned = vars(value).values() if isinstance(value, type) and value.__module__ == name else ()
            for candidate in (value, *owned):
                if callable(getattr(candidate, "cache_clear", None)):
                    candidate.cache_clear()


def _exit_status(argv: list[str], stderr: io.StringIO) -> int:
    """The status a process running ``Program.run(argv)`` would exit with, and what it would print."""
    program = Program(name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=invoke_version)
    try:
        program.run(argv, exit=True)
    except SystemExit as exc:  # what the interpreter does with sys.exit(code)
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code % 256
        print(exc.code, file=stderr)
        return 1
    except Exception:  # uncaught: a traceback and exit 1 (pytest's own stops, a timeout, pass through)
        traceback.print_exc(file=stderr)
        return 1
    return 0


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
