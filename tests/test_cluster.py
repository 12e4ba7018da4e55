"""The cluster check (builder/cluster.py) against a stand-in Argo Server (tests/argo_server.py).

No real cluster runs here: the stand-in follows the Argo Server's OpenAPI spec for the endpoints the
check uses (version, submit, get, the log stream as newline-delimited JSON) and plays a cluster with
one ltsc2022 Windows node and two Linux nodes. Covered: the workflow sent (upstream's hello-windows
pinned to the target's build), success (single and hybrid), a failed pod, a pod no node can take
(pending until the timeout), no controller, 401/403, no such namespace, an unreachable server, TLS
verification, the three ways the log can be unavailable, and the token never leaving the process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import re
import secrets
import ssl
import time
from pathlib import Path

import pytest

from builder import cluster, plan, targets
from builder.checks import ERROR, FAIL, HELLO_LINUX, HELLO_WINDOWS, PASS
from builder.errors import (
    EXIT_BAD_INPUT,
    EXIT_TARGET_FAILED,
    EXIT_UNREACHABLE,
    ClusterDenied,
    ClusterError,
    InputError,
    Unreachable,
)
from builder.matrix import LinuxBase
from builder.progress import Progress
from tests.argo_server import FAILURE_MESSAGE, ArgoServer, ArgoState, fnv32a
from tests.argo_server import pod_name as fake_pod_name
from tests.matrix_facts import MATRIX, NEWEST_ARGO, release

# A name no pattern of builder/secrets.py matches (it knows *TOKEN*, *SECRET*...): the cluster module
# must redact the value itself.
TOKEN_ENV = "CLUSTER_BEARER"
TOKEN = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_hex(16)
POLL = 0.01  # the stand-in advances one step per GET: the tests poll fast


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def planned(*bases: str) -> list[plan.PlannedTarget]:
    return plan.make_plan(MATRIX, targets.select(MATRIX, list(bases)))


def smoke(server: ArgoServer, plans, tmp_path: Path, **kwargs):
    options = {"url": server.url, "token_env": TOKEN_ENV, "insecure": False, "namespace": "argo", "hybrid": False,
               "timeout_s": 5.0, "runner": "aks-test", "results_dir": tmp_path / "results", "progress": Progress(),
               "poll_s": POLL}
    return cluster.cluster_smoke(plans, **{**options, **kwargs})


def written(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "results").glob("*.json"))]


def assert_no_token(*texts: str) -> None:
    bare = TOKEN.split(".", 1)[1]
    for text in texts:
        assert TOKEN not in text and bare not in text, "the token leaked"


def assert_one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text and len(text) < 600, text


# ---------------------------------------------------------------------------------------------
# The workflow


def test_hello_windows_is_upstreams_example_pinned_to_the_build():
    workflow = cluster.hello_windows_workflow("10.0.20348.2966", "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                                              False, "alpine")
    # upstream's examples/hello-windows.yaml, with the node's build in the nodeSelector (no revision).
    assert workflow == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"generateName": "hello-windows-"},
        "spec": {"entrypoint": "hello-win", "templates": [{
            "name": "hello-win",
            "nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"},
            "container": {"image": "mcr.microsoft.com/windows/nanoserver:ltsc2022", "command": ["cmd", "/c"],
                          "args": ["echo", "Hello from Windows Container!"]}}]},
    }


def test_hello_hybrid_runs_the_windows_step_then_a_linux_step():
    workflow = cluster.hello_windows_workflow("10.0.17763", "reg.local:5000/mcr/windows/nanoserver:1809", True,
                                              "reg.local:5000/library/alpine:3.20", deadline_s=720)
    spec = workflow["spec"]
    assert workflow["metadata"] == {"generateName": "hello-hybrid-"}
    assert spec["entrypoint"] == "hello-hybrid" and spec["activeDeadlineSeconds"] == 720
    templates = {t["name"]: t for t in spec["templates"]}
    # upstream's examples/hello-hybrid.yaml: two step groups, in order.
    assert templates["hello-hybrid"]["steps"] == [[{"name": "step1", "template": "hello-win"}],
                                                  [{"name": "step2", "template": "hello-linux"}]]
    assert templates["hello-win"]["nodeSelector"]["node.kubernetes.io/windows-build"] == "10.0.17763"
    assert templates["hello-win"]["container"]["image"] == "reg.local:5000/mcr/windows/nanoserver:1809"
    assert templates["hello-linux"] == {
        "name": "hello-linux", "nodeSelector": {"kubernetes.io/os": "linux"},
        "container": {"image": "reg.local:5000/library/alpine:3.20", "command": ["echo"],
                      "args": ["Hello from Linux Container!"]}}


def test_a_malformed_build_is_bad_input():
    with pytest.raises(InputError, match="not a Windows build"):
        cluster.hello_windows_workflow("20348", "nanoserver", False)


def test_pod_names_follow_the_controllers_v2_rule():
    # workflow/util/pod_name.go: the root node's pod is the workflow; a step's is <wf>-<template>-<fnv32a>.
    workflow = {"metadata": {"name": "hello-hybrid-x7k2p"}}
    assert cluster.pod_name(workflow, {"name": "hello-hybrid-x7k2p", "templateName": "hello-hybrid"}) == \
        "hello-hybrid-x7k2p"
    node = {"id": "hello-hybrid-x7k2p-1", "name": "hello-hybrid-x7k2p[0].step1", "templateName": "hello-win"}
    assert cluster.pod_name(workflow, node) == f"hello-hybrid-x7k2p-hello-win-{fnv32a('hello-hybrid-x7k2p[0].step1')}"
    assert cluster._fnv32a("") == 0x811C9DC5 and cluster._fnv32a("a") == 0xE40C292C  # FNV-1a's published vectors
    v1 = {"metadata": {"name": "w", "annotations": {"workflows.argoproj.io/pod-name-format": "v1"}}}
    assert cluster.pod_name(v1, node) == "hello-hybrid-x7k2p-1"


# ---------------------------------------------------------------------------------------------
# Runs


def test_success_submits_the_workflow_and_records_phase_node_and_log(tmp_path, capsys):
    with ArgoServer(ArgoState(token=TOKEN)) as server:
        records = smoke(server, planned("ltsc2022"), tmp_path)
    state = server.state
    # The version is read first, then one submit, then GETs, then the log stream of the main container.
    paths = state.paths()
    assert paths[0] == "GET /api/v1/version" and paths[1] == "POST /api/v1/workflows/argo"
    assert paths[-1].endswith("/log") and all(p.startswith("GET /api/v1/workflows/argo/hello-windows-")
                                              for p in paths[2:])
    assert {auth for *_, auth, _ in state.requests} == {f"Bearer {TOKEN}"}
    log_query = state.requests[-1][2]
    assert log_query["logOptions.container"] == "main"
    [request] = state.submitted()
    assert request["namespace"] == "argo"
    [template] = request["workflow"]["spec"]["templates"]
    assert template["nodeSelector"] == {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"}
    assert template["container"] == {"image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                                     "command": ["cmd", "/c"], "args": ["echo", HELLO_WINDOWS]}
    # the client's timeout (5 s) plus the grace, so the cluster ends a workflow the client gave up on
    assert request["workflow"]["spec"]["activeDeadlineSeconds"] == 5 + cluster.DEADLINE_GRACE_S

    [record] = records
    [name] = state.workflows
    assert (record.check, record.status, record.target) == ("workflow", PASS, f"{NEWEST_ARGO}-windows-ltsc2022")
    assert record.image == "mcr.microsoft.com/windows/nanoserver:ltsc2022" and record.image_digest is None
    assert (record.runner, record.isolation, record.host_os_version) == ("aks-test", None, None)
    assert record.image_os_version == "10.0.20348"
    assert f"workflow {name}: Succeeded" in record.log_excerpt
    assert f"pod {name} (hello-win) on node akswin000000: Succeeded" in record.log_excerpt
    assert "Argo Server v4.1.2 at http://127.0.0.1:" in record.log_excerpt
    assert f'"{HELLO_WINDOWS}"' in record.log_excerpt  # cmd's echo keeps the quotes
    [on_disk] = written(tmp_path)
    assert on_disk["check"] == "workflow" and on_disk["status"] == "pass"
    out = capsys.readouterr().out
    assert "Argo Server v4.1.2 at http://127.0.0.1:" in out and f"submitted workflow {name}" in out
    assert "Pending" in out and "Running" in out and "Succeeded" in out  # progress lines follow the phases
    assert_no_token(out, json.dumps(on_disk))


def test_hybrid_runs_both_steps_and_expects_both_greetings(tmp_path):
    with ArgoServer(ArgoState(token=TOKEN)) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path, hybrid=True, linux_image="alpine:3.20")
    [name] = server.state.workflows
    assert name.startswith("hello-hybrid-")
    pods = server.state.workflows[name].pods
    assert record.status == PASS, record.log_excerpt
    for pod, node in zip(pods, ("akswin000000", "aks-system-0"), strict=True):
        # the pod names the module computes are the ones the server's log entries carry
        assert f"pod {fake_pod_name(name, pod)} ({pod.template['name']}) on node {node}: Succeeded" in \
            record.log_excerpt
    assert HELLO_WINDOWS in record.log_excerpt and HELLO_LINUX in record.log_excerpt


def test_a_failed_pod_is_a_failure_with_phase_message_and_node(tmp_path, capsys):
    with ArgoServer(ArgoState(token=TOKEN, fail_template="hello-win")) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path)
    [name] = server.state.workflows
    assert record.status == FAIL
    assert f"pod {name} (hello-win) on node akswin000000: Failed: {FAILURE_MESSAGE}" in record.log_excerpt
    out = capsys.readouterr().out
    # the summary line: the workflow's phase, then the pod (its message said once)
    assert f"workflow: fail (Failed; pod {name} (hello-win) on node akswin000000: Failed: {FAILURE_MESSAGE})" in out


def test_a_hybrid_whose_linux_step_fails_names_that_step(tmp_path):
    with ArgoServer(ArgoState(token=TOKEN, fail_template="hello-linux")) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path, hybrid=True)
    assert record.status == FAIL
    assert "(hello-linux) on node aks-system-0: Failed: main: Error" in record.log_excerpt
    assert "(hello-win) on node akswin000000: Succeeded" in record.log_excerpt


def test_no_node_of_the_build_is_pending_until_the_timeout_and_says_so(tmp_path, capsys):
    # The pretend cluster has an ltsc2022 node only: the 1809 pod is never scheduled.
    with ArgoServer(ArgoState(token=TOKEN)) as server:
        began = time.monotonic()
        [pending, ran] = smoke(server, planned("1809", "ltsc2022"), tmp_path, timeout_s=0.5)
        took = time.monotonic() - began
    assert took < 4, "the timeout bounds the wait"
    assert pending.status == ERROR and ran.status == PASS  # the next target goes on
    detail = (r"Pending for [01] s: no node with node\.kubernetes\.io/windows-build=10\.0\.17763 is schedulable \(or "
              r"the image cannot be pulled\): Unschedulable: 0/3 nodes are available: 3 node\(s\) didn't match Pod's "
              r"node affinity/selector\.")
    assert re.search(detail, pending.log_excerpt), pending.log_excerpt
    out = capsys.readouterr().out
    assert "no node with node.kubernetes.io/windows-build=10.0.17763 is schedulable" in out
    assert "logs unavailable" not in pending.log_excerpt  # nothing ran: no log to miss


def test_a_workflow_no_controller_takes_up_says_so(tmp_path):
    with ArgoServer(ArgoState(token=TOKEN, no_controller=True)) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path, timeout_s=0.2)
    assert record.status == ERROR
    assert "(status.phase still empty); is a workflow-controller running and watching namespace argo?" in \
        record.log_excerpt


@pytest.mark.parametrize("logs, why", [
    ("http-error", "answered 500 reading the main container's log: pods \"x\" is forbidden"),
    ("stream-error", "the log stream ended with an error: stream closed"),
    ("empty", "the server sent no log lines (the pod may be gone already"),
])
def test_logs_unavailable_keep_the_phase_result_and_say_why(tmp_path, logs, why):
    with ArgoServer(ArgoState(token=TOKEN, logs=logs)) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path)
    assert record.status == PASS, record.log_excerpt
    assert "Succeeded; logs unavailable: " in record.log_excerpt and why in record.log_excerpt
    if logs == "stream-error":  # what came before the error is kept
        assert HELLO_WINDOWS in record.log_excerpt


def test_a_log_without_the_greeting_fails(tmp_path):
    with ArgoServer(ArgoState(token=TOKEN, log_text="ECHO is on.")) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path)
    assert record.status == FAIL
    assert f"Succeeded, but the main container's log lacks {HELLO_WINDOWS!r}" in record.log_excerpt


def test_a_server_error_at_submit_is_that_targets_error_and_the_next_goes_on(tmp_path):
    with ArgoServer(ArgoState(token=TOKEN, refuse_submit=500)) as server:
        [first, second] = smoke(server, planned("1809", "ltsc2022"), tmp_path, timeout_s=0.3)
    assert first.status == ERROR and second.status == PASS
    assert first.log_excerpt == (f"the Argo Server at {server.url} answered 500 submitting the workflow to namespace "
                                 "argo: etcdserver: request timed out")


def test_without_token_env_no_authorization_is_sent(tmp_path):
    with ArgoServer(ArgoState(token=None)) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path, token_env=None)
    assert record.status == PASS and {r[3] for r in server.state.requests} == {None}


def test_linux_targets_are_skipped(tmp_path, capsys):
    [windows] = planned("ltsc2022")
    linux = dataclasses.replace(windows, target=dataclasses.replace(
        windows.target, release=LinuxBase("linux-amd64", "linux/amd64", "busybox:1.36")))
    with ArgoServer(ArgoState(token=TOKEN)) as server:
        records = smoke(server, [linux], tmp_path)
    assert records == [] and server.state.submitted() == []
    assert "skipped v4.1.2-linux-linux-amd64" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# What stops a run: one line, its exit code, no token


def run_error(tmp_path, state: ArgoState, **kwargs) -> BaseException:
    with ArgoServer(state) as server, pytest.raises((InputError, Unreachable, ClusterError)) as caught:
        smoke(server, planned("ltsc2022"), tmp_path, **kwargs)
    assert_one_line(caught.value)
    assert_no_token(str(caught.value), repr(caught.value))
    return caught.value


def test_a_token_kubernetes_refuses_is_exit_2(tmp_path):
    error = run_error(tmp_path, ArgoState(token=TOKEN, refuse_submit=401))
    assert isinstance(error, ClusterDenied) and error.exit_code == EXIT_BAD_INPUT
    assert str(error) == (f"the token in ${TOKEN_ENV} was refused (401: Unauthorized) submitting the workflow to "
                          "namespace argo; check it and its RBAC")
    assert written(tmp_path) == []  # refusals stop the run; they are not a target's result


def test_a_token_the_gatekeeper_does_not_accept_is_refused_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "Bearer " + TOKEN)  # `argo auth token`'s form is accepted too...
    error = run_error(tmp_path, ArgoState(token="another-token"))
    assert str(error).startswith(f"the token in ${TOKEN_ENV} was refused (401: token not valid. see https://argo-"
                                 "workflows.readthedocs.io/en/latest/faq/) reading its version")


def test_the_bearer_form_of_the_variable_is_sent_once(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "Bearer " + TOKEN)
    with ArgoServer(ArgoState(token=TOKEN)) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path)
    assert record.status == PASS and {r[3] for r in server.state.requests} == {f"Bearer {TOKEN}"}


def test_rbac_refusal_is_exit_2_naming_the_namespace(tmp_path):
    error = run_error(tmp_path, ArgoState(token=TOKEN, refuse_submit=403))
    assert isinstance(error, ClusterDenied) and error.exit_code == EXIT_BAD_INPUT
    assert str(error).startswith(f"the token in ${TOKEN_ENV} was refused (403: workflows.argoproj.io is forbidden: "
                                 'User "system:serviceaccount:argo:ci" cannot create resource "workflows"')
    assert "check its RBAC in namespace argo" in str(error)


def test_no_such_namespace_is_exit_2(tmp_path):
    error = run_error(tmp_path, ArgoState(token=TOKEN), namespace="nope")
    assert isinstance(error, ClusterDenied) and error.exit_code == EXIT_BAD_INPUT
    assert str(error) == ('no namespace nope on the cluster (404: namespaces "nope" not found); pass --namespace with '
                          "one the workflow controller watches")


def test_an_unreachable_server_is_exit_4(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "RETRY_PAUSE_S", 0.0)
    with ArgoServer() as server:
        url = server.url  # a port nothing listens on once the server is gone
    with pytest.raises(Unreachable) as caught:
        cluster.cluster_smoke(planned("ltsc2022"), url=url, token_env=TOKEN_ENV, results_dir=tmp_path,
                              progress=Progress(), poll_s=POLL)
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert_one_line(caught.value)
    assert str(caught.value) == (f"cannot reach the Argo Server at {url} (Connection refused) reading its version "
                                 "(GET /api/v1/version); check --cluster and that the server is up")


def test_a_url_that_is_not_an_argo_server_says_so(tmp_path):
    with ArgoServer(ArgoState(token=TOKEN)) as server, pytest.raises(ClusterError) as caught:
        cluster.cluster_smoke(planned("ltsc2022"), url=server.url + "/elsewhere", token_env=TOKEN_ENV,
                              results_dir=tmp_path, progress=Progress())
    assert caught.value.exit_code == EXIT_TARGET_FAILED
    assert str(caught.value) == (f"{server.url}/elsewhere is not an Argo Server (GET /api/v1/version: 404); "
                                 "check --cluster")


@pytest.mark.parametrize("flags, message", [
    ({"token_env": "NOT_SET_ANYWHERE"}, "--token-env NOT_SET_ANYWHERE: $NOT_SET_ANYWHERE is not set or is empty"),
    ({"token_env": "eyJ.abc"}, "--token-env 'eyJ.abc': expected the NAME of an environment variable"),
    ({"url": "argo.example:2746"}, "--cluster argo.example:2746: expected the Argo Server's URL"),
    ({"url": "https://me:pw@argo.example"}, "--cluster https://***@argo.example: put no credentials in the URL"),
    ({"namespace": "Argo_NS"}, "--namespace Argo_NS: expected a Kubernetes namespace name"),
])
def test_bad_flags_are_exit_2_before_any_request(tmp_path, flags, message):
    options = {"url": "https://argo.example:2746", "token_env": TOKEN_ENV, "results_dir": tmp_path,
               "progress": Progress(), **flags}
    with pytest.raises(InputError) as caught:
        cluster.cluster_smoke(planned("ltsc2022"), **options)
    assert caught.value.exit_code == EXIT_BAD_INPUT and str(caught.value).startswith(message), str(caught.value)


# ---------------------------------------------------------------------------------------------
# The token never leaves, whatever the server echoes


def test_a_server_echoing_the_token_has_it_redacted_everywhere(tmp_path, capsys):
    state = ArgoState(token=TOKEN, leak=True, logs="ok")
    with ArgoServer(state) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path)
    assert record.status == PASS
    assert "Authorization: ***" in record.log_excerpt  # the echoed line is there, its token is not
    out, err = capsys.readouterr()
    assert_no_token(out, err, record.log_excerpt, *(p.read_text() for p in (tmp_path / "results").glob("*.json")))

    error = run_error(tmp_path, ArgoState(token=TOKEN, leak=True, refuse_submit=403))
    assert "(got Authorization: ***)" in str(error)


def test_the_server_object_does_not_show_the_token():
    server = cluster.ArgoClient("https://argo.example:2746", TOKEN, token_name=TOKEN_ENV)
    assert_no_token(repr(server), repr(server._session.auth), str(server._session.auth))


# ---------------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> ssl.SSLContext:
    x509 = pytest.importorskip("cryptography.x509", reason="the cryptography package makes the self-signed cert")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "argo-server.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_tls_is_verified_by_default(tmp_path, self_signed):
    with ArgoServer(ArgoState(token=TOKEN), tls=self_signed) as server:
        with pytest.raises(Unreachable) as caught:
            smoke(server, planned("ltsc2022"), tmp_path)
        assert server.state.requests == []  # nothing was sent: no token reached a server it could not verify
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert_one_line(caught.value)
    assert str(caught.value) == (
        f"cannot reach the Argo Server at {server.url} over TLS (certificate verify failed: self-signed certificate) "
        "reading its version (GET /api/v1/version); make this machine trust its certificate "
        "(REQUESTS_CA_BUNDLE=ca.pem) or pass --insecure")


def test_insecure_skips_verification_and_says_so(tmp_path, self_signed, capsys):
    with ArgoServer(ArgoState(token=TOKEN), tls=self_signed) as server:
        [record] = smoke(server, planned("ltsc2022"), tmp_path, insecure=True)
    assert record.status == PASS
    captured = capsys.readouterr()
    assert f"warning: --insecure: the certificate of {server.url} is not verified" in captured.out
    assert "InsecureRequestWarning" not in captured.err


def test_release_fixture_is_the_matrix_build():
    # The tests above rely on the matrix's ltsc2022 being 10.0.20348 (the pretend node's build) and on
    # 1809 being another build.
    assert release("ltsc2022").build.base == "10.0.20348" and release("1809").build.base != "10.0.20348"


def test_workflow_records_are_a_known_check_no_engine_run_runs(tmp_path):
    from builder import checks, store

    check = checks.by_name(cluster.CHECK)
    assert check is not None and not check.smoke and check.oses == ("windows",)
    assert cluster.CHECK not in checks.smoke_names("windows")  # an engine's smoke run never runs it
    with ArgoServer(ArgoState(token=TOKEN)) as server:
        smoke(server, planned("ltsc2022"), tmp_path)
    imported = store.import_paths(store.connect(tmp_path / "results.sqlite"), [tmp_path / "results"])
    assert (imported.imported, imported.problems) == (1, [])


# ---------------------------------------------------------------------------------------------
# The image under test as the executor (podSpecPatch), and its record in the table

REPO = "reg.example:5000/argoexec"  # never contacted: the stand-in cluster pulls nothing
DIGEST = "sha256:" + "d" * 64


def test_the_workflow_runs_the_image_under_test_as_executor_and_the_table_counts_it(tmp_path):
    from builder import store
    from builder import table as table_mod

    target = planned("ltsc2022")[0].target.id
    state = ArgoState(token=TOKEN)
    with ArgoServer(state) as server:
        (record,) = smoke(server, planned("ltsc2022"), tmp_path, executors={target: (f"{REPO}:{target}", DIGEST)})
    (body,) = state.submitted()
    (template,) = [t for t in body["workflow"]["spec"]["templates"] if t["name"] == cluster.WINDOWS_TEMPLATE]
    assert template["nodeSelector"] == {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"}
    patch = json.loads(template["podSpecPatch"])
    assert patch == {"initContainers": [{"name": "init", "image": f"{REPO}@{DIGEST}"}],
                     "containers": [{"name": "wait", "image": f"{REPO}@{DIGEST}"}]}
    # What the pretend controller made of it: the pod ran exactly that image as init and wait, on the Windows node.
    (pod,) = state.pods()
    assert pod == {"template": cluster.WINDOWS_TEMPLATE, "node": "akswin000000", "init": f"{REPO}@{DIGEST}",
                   "wait": f"{REPO}@{DIGEST}", "main": template["container"]["image"]}
    assert record.status == PASS
    written_record = written(tmp_path)[0]
    assert (written_record["image_digest"], written_record["runner"], written_record["host_os_version"],
            written_record["isolation"], written_record["node"]) == (DIGEST, "aks-test", "10.0.20348", "process",
                                                                     "akswin000000")
    assert written_record["image"] == f"{REPO}:{target}"
    # The table counts it like a runner's run: the ltsc2022 node's process cell of that image is verified.
    connection = store.connect(tmp_path / "r.sqlite")
    assert store.import_paths(connection, [tmp_path / "results"]).imported == 1
    publication = table_mod.Publication(REPO)
    publication.images[target] = DIGEST
    table = table_mod.build_table(MATRIX, store.all_records(connection), publication)
    (row,) = [r for r in table.rows if r.id == target]
    cell = row.cells["2022"]["process"]
    assert cell.state == table_mod.VERIFIED_PASS and cell.evidence.runner == "aks-test"
    assert cell.evidence.checks == (("workflow", "pass"),)
    # Another digest published since: the record is of the old one, and counts nowhere.
    publication.images[target] = "sha256:" + "e" * 64
    table = table_mod.build_table(MATRIX, store.all_records(connection), publication)
    (row,) = [r for r in table.rows if r.id == target]
    assert row.cells["2022"]["process"].state == table_mod.PREDICTED


def test_an_executor_the_node_cannot_pull_is_an_error_that_says_so(tmp_path):
    target = planned("ltsc2022")[0].target.id
    state = ArgoState(token=TOKEN, unpullable={f"{REPO}@{DIGEST}"})
    with ArgoServer(state) as server:
        (record,) = smoke(server, planned("ltsc2022"), tmp_path, timeout_s=0.5,
                          executors={target: (f"{REPO}:{target}", DIGEST)})
    assert record.status == ERROR
    assert "cannot pull its image: ErrImagePull" in record.log_excerpt


def test_a_patch_the_controller_refuses_fails_the_node(tmp_path):
    state = ArgoState(token=TOKEN)
    workflow = cluster.hello_windows_workflow("10.0.20348", "mcr.microsoft.com/windows/nanoserver:ltsc2022")
    workflow["spec"]["templates"][0]["podSpecPatch"] = '{"containers": "wait"}'
    with ArgoServer(state) as server:
        api = cluster.ArgoClient(server.url, TOKEN)
        result = cluster.run_workflow(api, workflow, timeout_s=5, poll_s=POLL)
    status, why = result.verdict()
    assert status == FAIL and "Error applying PodSpecPatch" in why


def test_smoke_cluster_refuses_a_target_not_published_before_submitting(registry, tmp_path):
    from tests.cli import invoke

    with ArgoServer(ArgoState(token=TOKEN)) as server:
        result = invoke("smoke", "--cluster", server.url, "--token-env", TOKEN_ENV, "--base", "ltsc2022", "--repo",
                        f"{registry.host}/cluster-unpublished/argoexec", "--results", str(tmp_path / "r"))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "not published; push it first" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert server.state.submitted() == []
