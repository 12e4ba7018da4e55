"""Input an attacker (or an accident) would give, through the CLI where a user meets it.

Each case must end in one line on stderr and its exit code: never a traceback, a hang, gigabytes of
memory, a file written where it should not be, or a secret printed. A case that could hang or eat the
machine before its fix runs in a real process with a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests import matrix_facts
from tests.cli import ROOT, invoke

MATRIX = matrix_facts.TEXT
NEWEST = matrix_facts.MATRIX.newest_argo.tag


def _one_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


# -- item 4: a Docker config of any shape ------------------------------------------------------------

ODD_CONFIGS = {
    "a-list": ("[1, 2]", "expected a JSON object"),
    "auths-a-list": ('{"auths": [1]}', "auths: expected an object keyed by registry, not a list"),
    "auth-a-number": ('{"auths": {"elsewhere.example": {"auth": 12345}}}',
                      'auths["elsewhere.example"].auth: expected a string, not a number'),
    "auth-not-base64": ('{"auths": {"elsewhere.example": {"auth": "!!!notbase64"}}}',
                        'auths["elsewhere.example"].auth: not the base64 of user:password'),
    "entry-a-string": ('{"auths": {"elsewhere.example": "user:pw"}}', 'auths["elsewhere.example"]: expected an object'),
    "proxies-a-list": ('{"proxies": []}', "proxies: expected an object"),
    "nested-deep": ('{"auths": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(ODD_CONFIGS))
def test_an_odd_docker_config_is_one_line_naming_the_file_and_key_before_the_engine_reads_it(tmp_path, case):
    # docker-py reads every entry of the config when the engine client starts (a registry the run never
    # uses included): push, build and smoke on an engine all start there.
    text, words = ODD_CONFIGS[case]
    (tmp_path / "config.json").write_text(text)
    result = invoke("push", "--base", "1809", "--to", "127.0.0.1:5000/argoexec", "--engine",
                    "unix:///nonexistent/none.sock", env=_env(DOCKER_CONFIG=str(tmp_path)))
    line = _one_line(result, 2)
    assert line.startswith(f"error: {tmp_path / 'config.json'}: ") and words in line, line


def _fifo_config(tmp_path):
    os.mkfifo(tmp_path / "config.json")


def _dev_zero_config(tmp_path):
    (tmp_path / "config.json").symlink_to("/dev/zero")


def _deep_config(tmp_path):
    (tmp_path / "config.json").write_text('{"auths": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _list_config(tmp_path):
    (tmp_path / "config.json").write_text('[{"auths": []}]')


@pytest.mark.parametrize("make", [_fifo_config, _dev_zero_config, _deep_config, _list_config],
                         ids=["fifo", "dev-zero", "nested-deep", "a-list"])
def test_redaction_reads_any_docker_config_without_failing_or_waiting(tmp_path, make):
    # Every error line is redacted with the config's secrets: whatever the file is, the error still is
    # one line. A real process, so a wait is a timeout, not a hung suite.
    make(tmp_path)
    result = invoke("plan", "--base", "nosuch", env=_env(DOCKER_CONFIG=str(tmp_path)), process=True, timeout=60)
    assert _one_line(result, 2).startswith("error: --base nosuch: unknown Windows base")


def test_a_fifo_docker_config_is_refused_before_the_engine_waits_on_it(tmp_path):
    os.mkfifo(tmp_path / "config.json")
    result = invoke("push", "--base", "1809", "--to", "127.0.0.1:5000/argoexec", "--engine",
                    "unix:///nonexistent/none.sock", env=_env(DOCKER_CONFIG=str(tmp_path)), process=True, timeout=60)
    assert _one_line(result, 2) == f"error: {tmp_path / 'config.json'}: a FIFO, not a regular file; the Docker " \
                                   "config must be a JSON file"


# -- item 4: Ctrl-C ------------------------------------------------------------------------------------


class _StalledEngine:
    """A unix socket that accepts connections and never answers: an engine that hangs."""

    def __init__(self, path):
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(8)
        self.accepted = threading.Event()
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.accepted.set()

    def close(self):
        self.server.close()
        for connection in self.connections:
            connection.close()


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    engine = _StalledEngine(tmp_path / "engine.sock")
    try:
        process = subprocess.Popen([sys.executable, "-m", "invoke", "build", "--base", "1809", "--engine",
                                    f"unix://{tmp_path / 'engine.sock'}"], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        try:
            assert engine.accepted.wait(60), "the build never reached the engine"
            time.sleep(0.5)  # into the wait for the engine's answer
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    finally:
        engine.close()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert _one_line(result, 130) == "error: interrupted"
