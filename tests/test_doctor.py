"""`invoke doctor`: the host a runner job would use, checked against the matrix.

Against the suite's real Linux engine (it is not a Windows host: exit 1, and the oci builder named),
against the replay of Windows engines in tests/windows_engine.py (its /info payloads and image lists are
constructed, not recorded from a Windows engine), and with nothing listening (exit 4). Runner entries,
bases and builds come from matrix.yaml through tests/matrix_facts.py.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from builder import compat, doctor
from builder.compat import host_facts_from_info
from builder.matrix import Runner
from tests import infra
from tests.cli import invoke
from tests.matrix_facts import MATRIX, RUNNER_NAMES, TEXT, release
from tests.windows_engine import WINDOWS_2019, WINDOWS_2022, WINDOWS_DATA_ROOT, WindowsEngineReplay

DIGEST = "sha256:" + "cd" * 32
# Outside a GitHub Actions job: no RUNNER_ENVIRONMENT, whatever machine runs the suite.
ENV = {k: v for k, v in os.environ.items() if k != "RUNNER_ENVIRONMENT"}


def _doctor(*args: str, env: dict[str, str] | None = None):
    return invoke("doctor", *args, env=ENV if env is None else env)


def _checks(result) -> dict[str, dict]:
    return {c["check"]: c for c in json.loads(result.stdout)}


def _key(runner: str, field: str) -> str:
    return f"runners[{RUNNER_NAMES.index(runner)}].{field}"


def _nanoserver(name: str) -> str:
    return MATRIX.base_image(release(name), "nanoserver")


def _servercore(name: str) -> str:
    return MATRIX.base_image(release(name), "servercore")


# ---------------------------------------------------------------------------------------------
# The real Linux engine


def test_a_linux_engine_is_not_a_windows_host(docker_engine):
    result = _doctor("--engine", docker_engine.url, "--min-free-gb", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    (os_line,) = [line for line in lines if line.startswith("fail     os: ")]
    assert "a linux engine" in os_line and "not a Windows host" in os_line
    assert "the docker builder cannot build or run Windows images" in os_line
    assert "invoke build --builder oci" in os_line
    # The engine is local: free space measured for real at its data root.
    (disk,) = [line for line in lines if line.startswith("ok       disk: ")]
    assert f"GB free at DockerRootDir {docker_engine.root / 'data'}" in disk
    assert not any(line.startswith(("ok       isolation", "ok       bases")) for line in lines)  # Windows-only checks
    assert result.stderr.strip().splitlines() == ["error: 1 of 3 checks failed: os"]


def test_a_linux_engine_fails_a_runner_entry_and_a_disk_threshold(docker_engine):
    result = _doctor("--engine", docker_engine.url, "--runner", "ws2019", "--min-free-gb", "1000000", "--json")
    assert result.returncode == 1
    checks = _checks(result)
    assert checks["runner.host_build"]["status"] == "fail"
    assert checks["runner.host_build"]["message"] == \
        f"{_key('ws2019', 'host_build')}: matrix says 10.0.17763, engine reports a linux host"
    assert checks["runner.host_build"]["key"] == _key("ws2019", "host_build")
    assert checks["disk"]["status"] == "fail" and "below 1e+06 GB" in checks["disk"]["message"]
    assert "docker image prune" in checks["disk"]["fix"]


# ---------------------------------------------------------------------------------------------
# Replayed Windows engines (constructed /info payloads)


@pytest.mark.parametrize("info,runner,base", [(WINDOWS_2019, "ws2019", "1809"),
                                              (WINDOWS_2022, "windows-2022", "ltsc2022")])
def test_a_windows_host_matches_its_runner(info, runner, base):
    """Every check ok for the runner whose host_build is the engine's build, picked without --runner; the disk
    is a warning: the replay's DockerRootDir is a Windows path, which cannot be measured from this machine."""
    bases = {_nanoserver(base): DIGEST}  # the nanoserver "already pulled", the servercore not
    with WindowsEngineReplay(info, bases) as engine:
        result = _doctor("--engine", engine.url, "--json")
        text = _doctor("--engine", engine.url)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = _checks(result)
    assert list(checks) == ["engine", "os", "isolation", "disk", "bases", "runner.host_build", "runner.isolation",
                            "runner.labels"]
    assert {name: c["status"] for name, c in checks.items() if name != "disk"} == \
        {name: "ok" for name in checks if name != "disk"}
    assert checks["disk"]["status"] == "warn"
    assert f"DockerRootDir {WINDOWS_DATA_ROOT} is not a folder on this machine" in checks["disk"]["message"]
    assert checks["os"]["message"].startswith(f"Windows {info['OSVersion']}.")
    assert "cannot be read from the Engine API" in checks["isolation"]["message"]
    assert checks["runner.host_build"]["key"] == _key(runner, "host_build")
    assert f"present {_nanoserver(base)}" in checks["bases"]["message"]
    assert f"not present (a build pulls them, servercore is GBs): {_servercore(base)}" in checks["bases"]["message"]
    # Only releases this host runs with its runner's isolation: nothing newer, nothing of another build.
    assert checks["bases"]["message"].startswith(f"for {base}: ")
    # The same checks as text: one line each, status first.
    assert text.returncode == 0
    assert [line.split()[0] for line in text.stdout.splitlines()] == [c["status"] for c in checks.values()]


@pytest.mark.parametrize("info,other,matrix_says,reported", [(WINDOWS_2019, "windows-2022", "10.0.20348", "10.0.17763"),
                                                             (WINDOWS_2022, "ws2019", "10.0.17763", "10.0.20348")])
def test_a_runner_of_another_build_fails_naming_the_key(info, other, matrix_says, reported):
    with WindowsEngineReplay(info, {}) as engine:
        result = _doctor("--engine", engine.url, "--runner", other)
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("fail")]
    assert line.startswith(f"fail     runner.host_build: {_key(other, 'host_build')}: matrix says {matrix_says}, "
                           f"engine reports {reported} -> ")
    assert result.stderr.strip() == "error: 1 of 8 checks failed: runner.host_build"


def test_bases_present_and_absent_come_from_the_engines_images():
    with WindowsEngineReplay(WINDOWS_2019, {_nanoserver("1809"): DIGEST, _servercore("1809"): DIGEST}) as engine:
        both = _checks(_doctor("--engine", engine.url, "--json"))["bases"]
    with WindowsEngineReplay(WINDOWS_2019, {}) as engine:
        none = _checks(_doctor("--engine", engine.url, "--json"))["bases"]
    assert both["status"] == none["status"] == "ok"  # absent bases are a note: a build pulls them
    assert both["message"] == f"for 1809: present {_nanoserver('1809')}, {_servercore('1809')}"
    assert none["message"] == (f"for 1809: present none; not present (a build pulls them, servercore is GBs): "
                               f"{_nanoserver('1809')}, {_servercore('1809')}")


def test_free_space_is_measured_when_the_data_root_is_a_folder_here(tmp_path):
    """The replay listens on 127.0.0.1, a local engine; its DockerRootDir is set (by this test, not as any
    Windows engine would say) to a folder of this machine, so the space there is measured."""
    info = {**WINDOWS_2019, "DockerRootDir": str(tmp_path)}
    with WindowsEngineReplay(info, {}) as engine:
        enough = _checks(_doctor("--engine", engine.url, "--json", "--min-free-gb", "0"))["disk"]
        short = _doctor("--engine", engine.url, "--json", "--min-free-gb", "1000000")
    assert enough["status"] == "ok" and f"GB free at DockerRootDir {tmp_path}" in enough["message"]
    assert short.returncode == 1 and _checks(short)["disk"]["status"] == "fail"


def test_inside_a_job_the_runner_kind_is_checked():
    with WindowsEngineReplay(WINDOWS_2019, {}) as engine:
        hosted = _doctor("--engine", engine.url, "--json", env={**ENV, "RUNNER_ENVIRONMENT": "github-hosted"})
        self_hosted = _doctor("--engine", engine.url, "--json", env={**ENV, "RUNNER_ENVIRONMENT": "self-hosted"})
    assert hosted.returncode == 1
    labels = _checks(hosted)["runner.labels"]
    assert labels["status"] == "fail" and labels["key"] == _key("ws2019", "hosted")
    assert labels["message"].endswith("matrix says ws2019 is self-hosted, this job runs on a github-hosted runner "
                                      "(RUNNER_ENVIRONMENT)")
    assert self_hosted.returncode == 0 and _checks(self_hosted)["runner.labels"]["status"] == "ok"


def test_hyperv_in_a_runner_entry_cannot_be_confirmed_from_the_api(tmp_path):
    """A self-hosted entry listing hyperv: /info shows only the default isolation, so a warning, not ok."""
    old = "    isolation: [process]\n    labels: [self-hosted, windows, ws2019]\n"
    assert TEXT.count(old) == 1
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(TEXT.replace(old, old.replace("[process]", "[process, hyperv]")))
    with WindowsEngineReplay(WINDOWS_2019, {}) as engine:
        result = _doctor("--engine", engine.url, "--matrix", str(matrix), "--json")
    assert result.returncode == 0
    isolation = _checks(result)["runner.isolation"]
    assert isolation["status"] == "warn" and "lists hyperv" in isolation["message"]
    assert "Get-WindowsFeature Hyper-V" in isolation["fix"]


# ---------------------------------------------------------------------------------------------
# Unreachable engines and bad input


def _closed_socket(tmp_path) -> str:
    """A unix socket path that was bound and closed: the file is there, nobody listens."""
    path = tmp_path / "closed.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return f"unix://{path}"


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_an_unreachable_engine_is_exit_4_in_one_line_after_every_check(tmp_path, json_flag):
    for url in (_closed_socket(tmp_path), f"tcp://127.0.0.1:{infra.free_port()}"):
        result = _doctor("--engine", url, *json_flag)
        assert result.returncode == 4, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: cannot reach the Docker engine at {url} (")
        # Every check is listed even so: the engine's fails, those that need its answers are skipped.
        if json_flag:
            checks = {r["check"]: r["status"] for r in json.loads(result.stdout)}
        else:
            checks = {ln.split()[1].rstrip(":"): ln.split()[0] for ln in result.stdout.splitlines()}
        assert checks == {"engine": "fail", "os": "skipped", "isolation": "skipped", "disk": "skipped",
                          "bases": "skipped", "runner": "skipped"}, result.stdout
    # With a runner named, its checks are listed too; the labels need no engine and are checked.
    (tmp_path / "again").mkdir()
    result = _doctor("--engine", _closed_socket(tmp_path / "again"), "--runner", "ws2019", "--json")
    statuses = {r["check"]: r["status"] for r in json.loads(result.stdout)}
    assert statuses["runner.host_build"] == statuses["runner.isolation"] == "skipped"
    assert statuses["runner.labels"] == "ok" and result.returncode == 4


def test_an_unknown_runner_is_exit_2_naming_the_known_ones(tmp_path):
    # Bad input is refused before any engine is asked: this one does not exist.
    result = _doctor("--runner", "ws2016", "--engine", _closed_socket(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --runner ws2016: no such runner in matrix.yaml; known: {', '.join(RUNNER_NAMES)}"]


@pytest.mark.parametrize("value", ["-1", "lots", "nan"])
def test_a_bad_threshold_is_exit_2(value):
    result = _doctor("--min-free-gb", value)
    assert result.returncode == 2 and result.stderr.startswith(f"error: --min-free-gb {value}: expected a number")


# ---------------------------------------------------------------------------------------------
# The checks one by one


def test_a_hosted_runner_on_an_engine_defaulting_to_hyperv_fails():
    facts = host_facts_from_info({**WINDOWS_2022, "Isolation": "hyperv"})
    index = RUNNER_NAMES.index("windows-2022")
    result = doctor.check_runner_isolation(index, MATRIX.runners[index], facts)
    assert result.status == "fail" and "no nested virtualization" in result.message


@pytest.mark.parametrize("labels,hosted,status,words", [
    (("windows", "ws2019"), False, "fail", "labels lack self-hosted"),
    (("self-hosted", "ws2019"), False, "warn", "lacks the windows label"),
    (("self-hosted", "windows-2022"), True, "fail", "lists self-hosted"),
    (("Self-Hosted", "Windows", "ws2019"), False, "ok", "not inside a GitHub Actions job"),
])
def test_label_sanity(labels, hosted, status, words):
    runner = Runner("r", compat.WindowsBuild.parse("10.0.17763"), (compat.PROCESS,), labels, hosted)
    result = doctor.check_runner_labels(3, runner, {})
    assert result.status == status and words in result.message
    assert result.key == "runners[3].labels"


def test_a_windows_engine_without_a_build_fails_the_os_check():
    info = {k: v for k, v in WINDOWS_2019.items() if k not in ("OSVersion", "KernelVersion", "OperatingSystem")}
    result = doctor.check_os(host_facts_from_info(info))
    assert result.status == "fail" and "did not report its OS build" in result.message


@pytest.mark.parametrize("url,local", [
    ("unix:///var/run/docker.sock", True), ("npipe:////./pipe/docker_engine", True), ("default", True),
    ("tcp://127.0.0.1:2375", True), ("tcp://localhost:2376", True), ("tcp://[::1]:2375", True),
    ("tcp://10.1.2.3:2376", False), ("ssh://user@host", False), ("tcp://runner.example:2376", False)])
def test_which_engines_are_local(url, local):
    assert doctor.engine_is_local(url) is local


def test_a_remote_engine_says_the_disk_cannot_be_measured():
    result = doctor.check_disk("tcp://10.1.2.3:2376", WINDOWS_2019, 30)
    assert result.status == "warn" and "cannot be measured from here" in result.message


def test_the_space_needed_is_computed_from_the_bases_the_job_pulls():
    """A hosted windows-2025 runner has about 31-33 GB free: a fixed 30 GB flapped. Its job builds ltsc2025
    (nanoserver, and servercore for netapi32.dll) and smoke-tests ltsc2022 and ltsc2025 (their nanoservers)."""
    facts = host_facts_from_info(WINDOWS_2022)
    (runner,) = [r for r in MATRIX.runners if r.name == "windows-2025"]
    needed = doctor.needed_space(MATRIX, runner, facts, runner.isolation)
    pulled = 2 * doctor.BASE_GB["nanoserver"] + doctor.BASE_GB["servercore"]
    assert needed.gb == round(2 * pulled + doctor.MARGIN_GB, 1) < 31
    assert needed.how.startswith("1 servercore (5.05 GB) + 2 nanoserver (0.25 GB), each twice")
    # A runner that builds more needs more; none known: every release this host runs.
    (ws2019,) = [r for r in MATRIX.runners if r.name == "ws2019"]
    assert doctor.needed_space(MATRIX, ws2019, host_facts_from_info(WINDOWS_2019), ("process",)).gb > 0
    # No runner: the bases of every release this host runs (a 2022 host, process isolation: ltsc2022).
    assert doctor.needed_space(MATRIX, None, facts, ("process",)).how.startswith("1 servercore (5.05 GB) + 1 nano")


def test_doctor_prints_the_space_it_needs(tmp_path):
    info = {**WINDOWS_2022, "DockerRootDir": str(tmp_path)}
    with WindowsEngineReplay(info, {}) as engine:
        disk = _checks(_doctor("--engine", engine.url, "--json", "--runner", "windows-2022"))["disk"]
    needed = doctor.needed_space(MATRIX, [r for r in MATRIX.runners if r.name == "windows-2022"][0],
                                 host_facts_from_info(info), ("process",))
    assert f"; {needed.gb:g} GB needed: 1 servercore (5.05 GB) + 1 nanoserver (0.25 GB), each twice" in \
        disk["message"]
