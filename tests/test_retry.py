"""The one retry policy (builder/retry.py) as each of its users meets it: the Argo Server client behind a proxy
that answers 503, the smoke checks' container removal against a Windows engine that holds on to a container,
and the rule that no module of builder/ writes a retry loop of its own."""

from __future__ import annotations

import ast

import docker
import pytest
from docker.models.containers import Container

from builder import cluster, smoke
from builder.errors import BuilderError, ClusterError
from builder.retry import RetryPolicy, TryAgain
from tests.argo_server import ArgoServer, ArgoState
from tests.cli import ROOT
from tests.faulty_proxy import Fault, FaultyProxy
from tests.windows_engine import WINDOWS_2022, WindowsEngineReplay

TOKEN = "retry-test-token"


def _failing(times: int, retry_after=None):
    failures = iter(range(times))

    def attempt() -> str:
        if next(failures, None) is not None:
            raise TryAgain(lambda n: BuilderError(f"gave up after {n} attempts"), retry_after)
        return "done"
    return attempt


def test_backoff_doubles_and_the_message_counts_the_attempts():
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, backoff_s=1.0, sleep=waits.append)
    assert policy.run(_failing(3)) == "done" and waits == [1.0, 2.0, 4.0] and policy.stats.retries == 3
    waits.clear()
    with pytest.raises(BuilderError, match=r"^gave up after 4 attempts$"):
        policy.run(_failing(10))
    assert waits == [1.0, 2.0, 4.0]  # no wait after the last attempt


def test_seconds_asked_by_the_caller_are_waited_within_the_policy_bound():
    waits: list[float] = []
    RetryPolicy(attempts=3, backoff_s=0.25, sleep=waits.append, max_wait_s=60.0).run(_failing(2, 7.0))
    assert waits == [7.0, 7.0]
    waits.clear()
    RetryPolicy(attempts=2, backoff_s=0.25, sleep=waits.append, max_wait_s=60.0).run(_failing(1, 86400.0))
    assert waits == [60.0]


def test_a_failure_no_attempt_mends_is_not_retried():
    calls = []

    def attempt():
        calls.append(1)
        raise ClusterError("refused")
    with pytest.raises(ClusterError):
        RetryPolicy(attempts=5, sleep=lambda s: None).run(attempt)
    assert len(calls) == 1


@pytest.fixture()
def argo_behind_a_proxy(monkeypatch):
    monkeypatch.setattr(cluster, "RETRY_PAUSE_S", 0.01)
    with ArgoServer(ArgoState(token=TOKEN)) as server, FaultyProxy(server.url) as proxy:
        yield proxy, cluster.ArgoClient(f"http://{proxy.host}", TOKEN)


def test_the_argo_client_retries_a_proxy_that_answers_503_while_the_server_restarts(argo_behind_a_proxy):
    proxy, client = argo_behind_a_proxy
    name = client.submit(cluster.hello_windows_workflow("10.0.20348", "nanoserver:ltsc2022"))["metadata"]["name"]
    proxy.inject(Fault("GET", rf"/api/v1/workflows/argo/{name}$", "status", times=3))
    assert client.get(name)["metadata"]["name"] == name  # reading a workflow: 3 retries
    assert [status for method, _, status in proxy.state.log if method == "GET"] == [503, 503, 503, 200]


def test_the_argo_client_gives_up_with_the_last_answer(argo_behind_a_proxy):
    proxy, client = argo_behind_a_proxy
    proxy.inject(Fault("GET", r"/api/v1/version$", "status", times=None))
    with pytest.raises(ClusterError) as caught:
        client.version()  # reading the version: 1 retry
    assert str(caught.value).startswith(f"the Argo Server at http://{proxy.host} answered 503 reading its version")
    assert [status for _, _, status in proxy.state.log] == [503, 503]
    proxy.inject(Fault("POST", r"/api/v1/workflows/argo$", "status", times=1))
    with pytest.raises(ClusterError, match="answered 503 submitting"):
        client.submit(cluster.hello_windows_workflow("10.0.20348", "nanoserver:ltsc2022"))  # never retried


@pytest.fixture()
def held_container(monkeypatch):
    monkeypatch.setattr(smoke, "REMOVE_PAUSE_S", 0.01)
    with WindowsEngineReplay(WINDOWS_2022) as engine:
        client = docker.DockerClient(base_url=engine.url, version="1.41")
        yield engine, Container(attrs={"Id": "c0ffee" * 10 + "beef"}, client=client)
        client.close()


def test_a_container_the_engine_holds_on_to_is_removed_once_it_lets_go(held_container, capsys):
    engine, container = held_container
    engine.server.remove_refusals = 2
    smoke._remove(container)
    assert engine.server.remove_attempts == {container.id: 3} and engine.recorded.removed == [container.id]
    assert capsys.readouterr().out == ""


def test_a_container_the_engine_never_lets_go_is_a_warning_with_the_attempts(held_container, capsys):
    engine, container = held_container
    engine.server.remove_refusals = None
    smoke._remove(container)  # never raises: the check's result stands
    assert engine.server.remove_attempts == {container.id: smoke.REMOVE_ATTEMPTS} and not engine.recorded.removed
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"warning: could not remove container {container.id[:12]} after {smoke.REMOVE_ATTEMPTS} "
                           f"attempts: unable to remove filesystem for {container.id}")


def test_no_module_writes_a_retry_loop_of_its_own():
    """Every wait between attempts is the policy's ``sleep``; the one other call of a sleep is the cluster
    check's poll of a running workflow (a wait for progress, not a retry)."""
    sleeps = []
    for path in sorted((ROOT / "builder").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and "sleep" in (getattr(node.func, "attr", ""), getattr(node.func, "id", "")):
                sleeps.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert [s.split(":")[0] for s in sleeps] == ["builder/cluster.py", "builder/retry.py"], sleeps
