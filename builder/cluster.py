"""The cluster check: hello-windows as a workflow on a real Argo cluster, through the Argo Server's REST API.

``invoke smoke --cluster URL`` renders upstream's hello-windows workflow for each Windows target's base
(a nodeSelector on the node's Windows build, the stock nanoserver of that build as the image), submits
it, follows it to a final phase or a timeout, reads the main container's log and records ``check:
workflow``. It tests what a pod really runs: the executor the cluster's controller is configured with
(``--executor-image`` or the ``executor`` key of workflow-controller-configmap; a workflow cannot
choose it), in init/wait/main containers on a node of that build.

The API shapes are the Argo Server's OpenAPI spec (argoproj/argo-workflows, api/openapi-spec/swagger.json):
- ``GET /api/v1/version``: ``io.argoproj.workflow.v1alpha1.Version`` (``version`` ...);
- ``POST /api/v1/workflows/{namespace}``: body ``WorkflowCreateRequest`` (``namespace``, ``workflow``),
  answer the created ``Workflow`` (its ``metadata.name`` made from ``generateName``);
- ``GET /api/v1/workflows/{namespace}/{name}``: the ``Workflow``; ``status.phase`` is "" (not yet taken
  up by a controller), ``Pending``, ``Running``, then ``Succeeded``, ``Failed`` or ``Error``;
  ``status.nodes`` maps node IDs to ``NodeStatus`` (``type``, ``phase``, ``message``, ``templateName``,
  ``hostNodeName``...);
- ``GET /api/v1/workflows/{namespace}/{name}/log``: a stream of ``{"result": LogEntry}`` (``content``,
  ``podName``), one JSON object a line, or an ``{"error": StreamError}`` chunk;
- errors: a JSON body with ``code`` and ``message`` (grpc-gateway's ``runtime.Error``).

The token comes from an environment variable the user names (``--token-env``); it is sent as
``Authorization: Bearer`` and never appears in a message, record, exception or progress line: every
text this module produces goes through ``ArgoClient.clean``, which redacts it whatever the variable's
name (``secrets.redact`` only knows variables named like ``*TOKEN*``).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.parse
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import urllib3

from . import results
from .answers import READ_CHUNK, Deadline, DeadlinePassed, TooLarge, mount, read_limited
from .checks import ERROR, FAIL, HELLO_LINUX, HELLO_WINDOWS, PASS
from .compat import PROCESS, HostFacts, WindowsBuild
from .errors import BuilderError, ClusterDenied, ClusterError, InputError, Unreachable
from .progress import Progress
from .reference import is_loopback
from .retry import RetryPolicy, TryAgain
from .secrets import redact, redact_userinfo

if TYPE_CHECKING:
    from .plan import PlannedTarget

CHECK = "workflow"
DEFAULT_NAMESPACE = "argo"
# A Windows node pulls nanoserver (hundreds of MB) on its first run of a build: minutes, not seconds.
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_POLL_S = 2.0
MAX_POLL_S = 15.0  # the backoff's ceiling while nothing changes
HEARTBEAT_S = 60.0  # a progress line at least this often while a workflow waits (CI logs look alive)
REQUEST_TIMEOUT_S = 30.0
RETRY_PAUSE_S = 1.0  # before retrying a poll the network or a proxy in front of the server dropped
DEFAULT_LINUX_IMAGE = "alpine"  # upstream's examples/hello-hybrid.yaml
# The workflow outlives the client's timeout by this much, then its own activeDeadlineSeconds ends it, so
# a workflow stuck Pending does not start hours later on a node that appears (the client reports first).
DEADLINE_GRACE_S = 120
LOG_LIMIT_BYTES = 64 * 1024  # logOptions.limitBytes: a hello-world log is a line; a runaway one is cut
LOG_RECORD_CHARS = 2500  # the log's tail in a record (results.LOG_EXCERPT_LIMIT bounds the whole text)
# What the log stream may send in all, framing included (each line's JSON around its content): past it the
# read stops, whether or not the server honoured limitBytes or ever sent a newline.
LOG_STREAM_BYTES = 4 * LOG_LIMIT_BYTES + READ_CHUNK
# A Workflow with its status is tens of KB; the API server's own limit on an object is about 1.5 MB (etcd).
MAX_ANSWER_BYTES = 8 << 20

FINAL_PHASES = ("Succeeded", "Failed", "Error")  # WorkflowStatus.phase once completed (swagger.json)
WINDOWS_TEMPLATE, LINUX_TEMPLATE, HYBRID_TEMPLATE = "hello-win", "hello-linux", "hello-hybrid"
OS_LABEL = "kubernetes.io/os"
# The kubelet labels every Windows node with its 10.0.BUILD (Kubernetes' well-known labels).
WINDOWS_BUILD_LABEL = "node.kubernetes.io/windows-build"

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label, as Kubernetes wants
# Kubernetes' answer for a namespace that does not exist, which the Argo Server passes on as a 404
# (server/utils/errors.go maps the API server's status codes to gRPC codes, grpc-gateway back to HTTP).
_NO_NAMESPACE_RE = re.compile(r'namespaces? "[^"]*" not found')
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_TLS_VERIFY_RE = re.compile(r"(certificate verify failed: [^'\")(]+)")
_TLS_RE = re.compile(r"(wrong version number|[A-Z][A-Z_]{5,}\b)")
_IMAGE_PULL_RE = re.compile(r"^(ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull)\b")


# ---------------------------------------------------------------------------------------------
# The workflow


def executor_patch(executor_image: str) -> str:
    """The podSpecPatch that runs ``executor_image`` as the pod's executor: the controller's ``init`` and
    ``wait`` containers (workflow/common/common.go ``InitContainerName``, ``WaitContainerName``), matched by
    name by the strategic merge, with that image. JSON, which ApplyPodSpecPatch takes as it is."""
    return json.dumps({"initContainers": [{"name": "init", "image": executor_image}],
                       "containers": [{"name": "wait", "image": executor_image}]}, separators=(",", ":"))


def _windows_template(build: str, image: str, executor_image: str | None = None) -> dict[str, Any]:
    # upstream's examples/hello-windows.yaml, with the node's build pinned: a Windows node runs only
    # images of its own build (process isolation), so the nodeSelector names it, not just the os.
    template: dict[str, Any] = {
        "name": WINDOWS_TEMPLATE,
        "nodeSelector": {OS_LABEL: "windows", WINDOWS_BUILD_LABEL: build},
        "container": {"image": image, "command": ["cmd", "/c"], "args": ["echo", HELLO_WINDOWS]},
    }
    if executor_image:
        template["podSpecPatch"] = executor_patch(executor_image)
    return template


def _linux_template(image: str) -> dict[str, Any]:
    # upstream's examples/hello-hybrid.yaml, its hello-linux template.
    return {
        "name": LINUX_TEMPLATE,
        "nodeSelector": {OS_LABEL: "linux"},
        "container": {"image": image, "command": ["echo"], "args": [HELLO_LINUX]},
    }


def hello_windows_workflow(release_build: str, nanoserver_image: str, hybrid: bool = False,
                           linux_image: str = DEFAULT_LINUX_IMAGE, deadline_s: int | None = None,
                           executor_image: str | None = None) -> dict[str, Any]:
    """Upstream's hello-windows workflow for one Windows build (``10.0.BUILD``), or with ``hybrid`` its
    hello-hybrid shape: a steps template running the Windows step, then a Linux step.

    ``deadline_s`` sets the workflow's ``activeDeadlineSeconds`` (the controller ends it after that);
    ``executor_image`` (``REPO@sha256:D``) is the Windows step's executor (``executor_patch``)."""
    try:
        build = WindowsBuild.parse(release_build).base  # the label holds 10.0.BUILD, never a revision
    except ValueError as exc:
        raise InputError(f"release build {release_build}: {exc}") from None
    if not nanoserver_image or not linux_image:
        raise InputError("hello-windows needs a nanoserver image (and, with --hybrid, a Linux image)")
    templates = [_windows_template(build, nanoserver_image, executor_image)]
    entrypoint = WINDOWS_TEMPLATE
    if hybrid:
        # examples/hello-hybrid.yaml: two sequential step groups, step1 (Windows) then step2 (Linux).
        steps = {"name": HYBRID_TEMPLATE,
                 "steps": [[{"name": "step1", "template": WINDOWS_TEMPLATE}],
                           [{"name": "step2", "template": LINUX_TEMPLATE}]]}
        templates = [steps, *templates, _linux_template(linux_image)]
        entrypoint = HYBRID_TEMPLATE
    spec: dict[str, Any] = {"entrypoint": entrypoint, "templates": templates}
    if deadline_s is not None:
        spec["activeDeadlineSeconds"] = int(deadline_s)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "hello-hybrid-" if hybrid else "hello-windows-"},
        "spec": spec,
    }


# ---------------------------------------------------------------------------------------------
# The Argo Server


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: BaseException) -> str:
    """The useful end of a requests/urllib3 error ("Connection refused"), not its nested reprs."""
    text = str(exc)
    patterns = (_TLS_VERIFY_RE, _TLS_RE, _ERRNO_RE) if isinstance(exc, requests.exceptions.SSLError) else (_ERRNO_RE,)
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(1).strip().rstrip(".")
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return _one_line(text, 160) or exc.__class__.__name__


def _server_message(response: requests.Response) -> str:
    """The message of an error answer: grpc-gateway's ``{"code", "message"}`` (``runtime.Error`` in
    swagger.json), a stream's ``{"error": {...}}`` chunk, or the start of whatever else came."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            body = body["error"]
        for key in ("message", "error"):
            if isinstance(body.get(key), str) and body[key].strip():
                return _one_line(body[key])
    return _one_line(response.text, 200) or response.reason or ""


def read_token(token_env: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The token in the environment variable named ``token_env`` (None: send no token)."""
    if token_env is None:
        return None
    if not _ENV_NAME_RE.match(token_env):
        raise InputError(f"--token-env {token_env!r}: expected the NAME of an environment variable, e.g. ARGO_TOKEN "
                         "(never the token itself)")
    value = (os.environ if environ is None else environ).get(token_env, "").strip()
    if not value:
        raise InputError(f"--token-env {token_env}: ${token_env} is not set or is empty; export the Argo Server's "
                         "token there")
    # `argo auth token` prints "Bearer v2:…", and ARGO_TOKEN conventionally holds it so: take either form.
    bare = value[len("bearer "):].strip() if value.lower().startswith("bearer ") else value
    if not bare or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in bare):
        raise InputError(f"--token-env {token_env}: ${token_env} holds spaces or control characters; expected the "
                         "token alone, or 'Bearer TOKEN'")
    return bare


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer`` on every request. As the session's auth it also keeps requests from
    replacing the header with ~/.netrc's credentials; its repr hides the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<Bearer ***>"


def _is_loopback_host(host: str | None) -> bool:
    return is_loopback(host) if host else False  # the registry client's test: localhost, 127/8, ::1


class ArgoClient:
    """A client of the Argo Server: the few endpoints the cluster check needs, over requests.

    TLS is verified (requests' CA bundle, or ``REQUESTS_CA_BUNDLE``) unless ``insecure``. Every error
    is one line, redacted, of a ``builder.errors`` kind: ``Unreachable`` (exit 4) when the server
    cannot be reached, ``ClusterDenied`` (exit 2) for a refused token or a missing namespace,
    ``ClusterError`` (exit 1) for any other answer the check cannot use."""

    def __init__(self, url: str, token: str | None, insecure: bool = False, namespace: str = DEFAULT_NAMESPACE,
                 timeout_s: float = REQUEST_TIMEOUT_S, token_name: str | None = None):
        self._secrets = tuple(s for s in (token, f"Bearer {token}" if token else None) if s)
        parts = urllib.parse.urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(self.clean(f"--cluster {url}: expected the Argo Server's URL, http(s)://HOST[:PORT][/PATH]"))
        if parts.username or parts.password:
            raise InputError(self.clean(f"--cluster {url}: put no credentials in the URL; the token comes from "
                                        "--token-env NAME"))
        if not _NAMESPACE_RE.match(namespace or ""):
            raise InputError(f"--namespace {namespace}: expected a Kubernetes namespace name (lowercase letters, "
                             "digits and '-', at most 63)")
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.shown = self.url
        self.namespace = namespace
        self.insecure = insecure
        self.timeout_s = timeout_s
        self.token_name = token_name
        self.plain_http_remote = parts.scheme == "http" and token is not None and not _is_loopback_host(parts.hostname)
        self._session = mount(requests.Session())
        if token:
            self._session.auth = _Bearer(token)
        self._session.headers["Accept"] = "application/json"

    def __repr__(self) -> str:
        return f"ArgoClient({self.shown!r}, namespace={self.namespace!r})"

    def close(self) -> None:
        self._session.close()

    def clean(self, text: str) -> str:
        """Any text with the token (and any URL's userinfo and other known secrets) removed."""
        return redact(redact_userinfo(text), extra=self._secrets)

    # -- requests ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, *, params: dict[str, str] | None = None,
              body: dict | None = None, stream: bool = False, retries: int = 0, not_found: str | None = None
              ) -> requests.Response:
        """One request and (unless ``stream``) its whole answer, within a wall-clock deadline of
        ``timeout_s`` and at most MAX_ANSWER_BYTES; a streamed read is bounded by its caller."""
        # A dropped connection, or a proxy or ingress in front of the server answering 502-504 while it
        # restarts, is tried again (``retries`` times) under the project's one retry policy.
        policy = RetryPolicy(retries + 1, RETRY_PAUSE_S)
        return policy.run(lambda: self._attempt(method, path, what, params, body, stream, retries > 0, not_found))

    def _attempt(self, method: str, path: str, what: str, params: dict[str, str] | None, body: dict | None,
                 stream: bool, retried: bool, not_found: str | None) -> requests.Response:
        """One request of ``_call``: its answer, or ``TryAgain`` (when ``retried``) for a lost connection or
        a 502-504, whose ``give_up`` is the error this attempt would raise alone."""
        with Deadline(self.timeout_s) as deadline:
            try:
                with warnings.catch_warnings():
                    if self.insecure:  # the user chose --insecure; urllib3 would repeat it on every poll
                        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    # verify per request: requests lets REQUESTS_CA_BUNDLE override a session's verify=False
                    response = self._session.request(method, self.url + path, params=params, json=body,
                                                     stream=True, verify=not self.insecure,
                                                     timeout=(min(10.0, self.timeout_s), self.timeout_s))
                    if not stream or response.status_code >= 400:
                        read_limited(response, MAX_ANSWER_BYTES)
                    deadline.check()
            except requests.exceptions.SSLError as exc:
                raise Unreachable(self.clean(
                    f"cannot reach the Argo Server at {self.shown} over TLS ({_reason(exc)}) {what}; make this "
                    "machine trust its certificate (REQUESTS_CA_BUNDLE=ca.pem) or pass --insecure")) from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    DeadlinePassed) as exc:
                if deadline.expired:  # a server that drips its answer is not a passing trouble
                    raise Unreachable(self.clean(
                        f"the Argo Server at {self.shown} sent no whole answer within {self.timeout_s:g} s "
                        f"{what}; check --cluster and the server (or a proxy in front of it)")) from None
                lost = Unreachable(self.clean(f"cannot reach the Argo Server at {self.shown} ({_reason(exc)}) "
                                              f"{what}; check --cluster and that the server is up"))
                if retried:
                    raise TryAgain(lambda _attempts: lost) from None
                raise lost from None
            except TooLarge:
                raise ClusterError(self.clean(f"the Argo Server at {self.shown} answered more than "
                                              f"{MAX_ANSWER_BYTES} bytes {what}; is --cluster the Argo Server's "
                                              "URL?")) from None
        if response.status_code >= 400:
            refused = self._refusal(response, what, not_found)
            if response.status_code in (502, 503, 504) and retried:
                raise TryAgain(lambda _attempts: refused)
            raise refused
        return response

    def _refusal(self, response: requests.Response, what: str, not_found: str | None) -> BuilderError:
        """The error an answer of 400 or more is, its body read and the response closed."""
        code = response.status_code
        message = self.clean(_server_message(response))
        response.close()
        token = f"the token in ${self.token_name}" if self.token_name else "a request without a token"
        if code == 401:
            # The gatekeeper (server/auth/gatekeeper.go) answers "token not valid" itself; in client auth
            # mode Kubernetes refuses the token on the first call that uses it ("Unauthorized").
            hint = "check it and its RBAC" if self.token_name else "pass --token-env NAME"
            return ClusterDenied(f"{token} was refused (401: {message}) {what}; {hint}")
        if code == 403:
            # Kubernetes' RBAC answer; the server passes it on as PermissionDenied (server/utils/errors.go).
            # RBAC is checked before the namespace is looked up, so a namespace-bound token gets this
            # for a namespace that does not exist too.
            return ClusterDenied(f"{token} was refused (403: {message}) {what}; check its RBAC in namespace "
                                 f"{self.namespace} (create and get workflows, read pod logs) and that the "
                                 "namespace exists")
        if code == 404 and _NO_NAMESPACE_RE.search(message):
            return ClusterDenied(f"no namespace {self.namespace} on the cluster (404: {message}); pass --namespace "
                                 "with one the workflow controller watches")
        if code == 404 and not_found:
            return ClusterError(self.clean(not_found))
        return ClusterError(self.clean(f"the Argo Server at {self.shown} answered {code} {what}: {message}"))

    def _json(self, response: requests.Response, what: str) -> dict:
        try:
            data = response.json()
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            kind = response.headers.get("Content-Type", "no content type")
            raise ClusterError(self.clean(f"{self.shown} answered {what} with {kind}, not JSON; is --cluster the Argo "
                                          "Server's URL?"))
        return data

    # -- the endpoints -------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version (``GET /api/v1/version``, ``Version.version`` in swagger.json)."""
        what = "reading its version (GET /api/v1/version)"
        data = self._json(self._call("GET", "/api/v1/version", what, retries=1, not_found=(
            f"{self.shown} is not an Argo Server (GET /api/v1/version: 404); check --cluster")), what)
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise ClusterError(self.clean(f"{self.shown} answered GET /api/v1/version without a version; is --cluster "
                                          "the Argo Server's URL?"))
        return version

    def submit(self, workflow: dict) -> dict:
        """Create the workflow (``POST /api/v1/workflows/{namespace}``, a ``WorkflowCreateRequest``);
        the created ``Workflow``, its name made from ``generateName``."""
        what = f"submitting the workflow to namespace {self.namespace}"
        body = {"namespace": self.namespace, "workflow": workflow}
        created = self._json(self._call("POST", f"/api/v1/workflows/{self.namespace}", what, body=body), what)
        name = (created.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise ClusterError(self.clean(f"the Argo Server answered {what} with no metadata.name"))
        return created

    def get(self, name: str) -> dict:
        """The workflow (``GET /api/v1/workflows/{namespace}/{name}``); transient failures are retried."""
        what = f"reading workflow {name}"
        return self._json(self._call("GET", f"/api/v1/workflows/{self.namespace}/{name}", what, retries=3), what)

    def logs(self, name: str, container: str = "main", pod_name: str | None = None,
             limit_bytes: int = LOG_LIMIT_BYTES) -> LogRead:
        """The container's log of every pod of the workflow (or of ``pod_name``): the stream of
        ``{"result": LogEntry}`` lines. Never raises: a failure is the ``problem`` of the answer."""
        params = {"logOptions.container": container, "logOptions.limitBytes": str(limit_bytes)}
        if pod_name:
            params["podName"] = pod_name
        what = f"reading the {container} container's log"
        entries: list[LogEntry] = []
        problem = None
        with Deadline(self.timeout_s) as deadline:
            try:
                response = self._call("GET", f"/api/v1/workflows/{self.namespace}/{name}/log", what, params=params,
                                      stream=True)
            except BuilderError as exc:
                return LogRead([], self.clean(str(exc)))
            try:
                with response:
                    problem = _read_log_stream(response, entries, limit_bytes)
                deadline.check()
            except (requests.RequestException, urllib3.exceptions.HTTPError, DeadlinePassed) as exc:
                problem = (f"the log stream sent no end within {self.timeout_s:g} s" if deadline.expired else
                           f"the log stream broke off ({_reason(exc)})")
        if not entries and problem is None:
            # util/logs/workflow-logger.go streams only pods that still exist: podGC or a lost node leaves nothing.
            problem = "the server sent no log lines (the pod may be gone already: podGC, or its node)"
        return LogRead(entries, self.clean(problem) if problem else None)


def _read_log_stream(response: requests.Response, entries: list[LogEntry], limit_bytes: int) -> str | None:
    """The ``{"result": LogEntry}`` lines of a log stream into ``entries``; why it stopped early, if it did.

    Read as raw chunks split at newlines here (never ``iter_lines``, which joins its pending buffer
    again with every chunk of a line that does not end), at most LOG_STREAM_BYTES in all."""
    size = 0
    total = 0
    pending = bytearray()
    while True:
        chunk = response.raw.read1(READ_CHUNK)  # what has arrived, not a full chunk: a drip's lines count
        if not chunk:
            break
        total += len(chunk)
        if b"\n" not in chunk:
            pending += chunk
        else:
            head, *middle, tail = chunk.split(b"\n")
            pending += head
            for raw in (bytes(pending), *middle):
                stop, size = _log_line(raw, entries, size, limit_bytes)
                if stop is not None:
                    return stop or None
            pending = bytearray(tail)
        if total > LOG_STREAM_BYTES or len(pending) > LOG_STREAM_BYTES:
            return (f"the log stream went on past {LOG_STREAM_BYTES} bytes"
                    f"{' without a newline' if len(pending) > LOG_STREAM_BYTES else ''}; read no further")
    if pending.strip():
        stop, size = _log_line(bytes(pending), entries, size, limit_bytes)
        return stop or None
    return None


def _log_line(raw: bytes, entries: list[LogEntry], size: int, limit_bytes: int) -> tuple[str | None, int]:
    """One line of the stream: (None to go on, "" to stop quietly, or a problem; the size read so far)."""
    line = raw.decode("utf-8", "replace").strip()
    if line.startswith("data:"):  # the server-sent-events framing, if a proxy asked for it
        line = line[len("data:"):].strip()
    if not line:
        return None, size
    try:
        item = json.loads(line)
    except (ValueError, RecursionError):
        return f"the log stream is not newline-delimited JSON ({_one_line(line[:200], 80)!r})", size
    if not isinstance(item, dict):
        return None, size
    if item.get("error"):  # grpc-gateway ends a broken stream with an error chunk
        error = item["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        return f"the log stream ended with an error: {_one_line(str(message or 'no message')[:400])}", size
    result = item.get("result") or {}
    if not isinstance(result, dict):
        return None, size
    content = str(result.get("content") or "")
    entries.append(LogEntry(str(result.get("podName") or ""), content))
    size += len(content) + 1
    return ("" if size > limit_bytes else None), size


@dataclass(frozen=True)
class LogEntry:
    pod: str
    content: str


@dataclass(frozen=True)
class LogRead:
    entries: list[LogEntry]
    problem: str | None  # why the log is unavailable (or incomplete); None when it came whole

    def text(self) -> str:
        return "\n".join(entry.content for entry in self.entries)


# ---------------------------------------------------------------------------------------------
# Following a workflow


def _fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def pod_name(workflow: dict, node: dict) -> str:
    """The pod of a Pod node, as the controller names it (workflow/util/pod_name.go, GeneratePodName):
    v1 is the node ID; v2 (the default, announced in the ``workflows.argoproj.io/pod-name-format``
    annotation) is the workflow's name for its root node, else ``<workflow>-<template>-<fnv32a(node name)>``."""
    metadata = workflow.get("metadata") or {}
    workflow_name = metadata.get("name") or ""
    if (metadata.get("annotations") or {}).get("workflows.argoproj.io/pod-name-format") == "v1":
        return str(node.get("id") or "")
    name = str(node.get("name") or "")
    if name == workflow_name:
        return workflow_name
    template = (node.get("templateRef") or {}).get("template") or node.get("templateName") or ""
    prefix = f"{workflow_name}-{template}" if template else workflow_name
    return f"{prefix[:242]}-{_fnv32a(name)}"  # the prefix is cut to 253 - 10 (the hash) - 1 characters


@dataclass(frozen=True)
class PodNode:
    """A ``NodeStatus`` of type Pod: one container step of the workflow."""

    pod: str
    template: str
    phase: str
    message: str
    host: str | None  # hostNodeName: the Kubernetes node it was scheduled on

    def describe(self) -> str:
        where = f" on node {self.host}" if self.host else ""
        return f"pod {self.pod} ({self.template}){where}: {self.phase or 'no phase'}" + (
            f": {self.message}" if self.message else "")


def pod_nodes(workflow: dict) -> list[PodNode]:
    nodes = ((workflow.get("status") or {}).get("nodes") or {}).values()
    pods = [node for node in nodes if isinstance(node, dict) and node.get("type") == "Pod"]
    pods.sort(key=lambda node: (str(node.get("startedAt") or "~"), str(node.get("name") or "")))
    return [PodNode(pod_name(workflow, node), str(node.get("templateName") or ""), str(node.get("phase") or ""),
                    _one_line(node.get("message") or ""), node.get("hostNodeName") or None) for node in pods]


def _state(workflow: dict) -> str:
    status = workflow.get("status") or {}
    phase = status.get("phase") or "no phase yet"
    pods = "; ".join(node.describe() for node in pod_nodes(workflow))
    message = f": {_one_line(status['message'])}" if status.get("message") else ""
    return phase + message + (f"; {pods}" if pods else "")


@dataclass
class WorkflowResult:
    """What one workflow did: its name, phase, pods and main container's log, and the check's verdict."""

    name: str
    namespace: str
    phase: str  # "" when no controller took it up
    message: str
    nodes: list[PodNode]
    log: str
    log_problem: str | None
    server_version: str
    server: str  # the server's URL, as shown
    waited_s: float
    timed_out: bool
    expect: tuple[str, ...] = ()
    selectors: dict[str, dict[str, str]] = field(default_factory=dict)  # template -> nodeSelector

    def _where(self, template: str) -> str:
        selector = dict(self.selectors.get(template) or {})
        if WINDOWS_BUILD_LABEL in selector:  # the build is the precise part; the os label follows from it
            selector.pop(OS_LABEL, None)
        return ", ".join(f"{key}={value}" for key, value in selector.items()) or "its nodeSelector"

    def _timed_out(self) -> str:
        waited = int(round(self.waited_s))
        if not self.phase:
            return (f"no workflow controller took up {self.name} in {waited} s (status.phase still empty); is a "
                    f"workflow-controller running and watching namespace {self.namespace}?")
        pending = [node for node in self.nodes if node.phase == "Pending"]
        if pending:
            node = pending[0]
            if _IMAGE_PULL_RE.match(node.message):
                return f"Pending for {waited} s: pod {node.pod} cannot pull its image: {node.message}"
            if node.host:
                return (f"Pending for {waited} s on node {node.host}: pod {node.pod} is still starting (pulling the "
                        "image?)" + (f": {node.message}" if node.message else ""))
            return (f"Pending for {waited} s: no node with {self._where(node.template)} is schedulable (or the image "
                    "cannot be pulled)" + (f": {node.message}" if node.message else ""))
        running = [node for node in self.nodes if node.phase == "Running"]
        if running:
            return f"still Running after {waited} s: {running[0].describe()}"
        return f"still {self.phase} after {waited} s" + (f": {self.message}" if self.message else "") + (
            "" if self.nodes else " (no pod yet)")

    def verdict(self) -> tuple[str, str]:
        """(status, why) in one line: pass, fail (the workflow failed, or its log lacks a greeting) or
        error (it did not finish in time)."""
        if self.timed_out:
            return ERROR, self._timed_out()
        if self.phase == "Succeeded":
            if self.log_problem:  # the phase is the result; the log would only have confirmed it
                return PASS, f"Succeeded; logs unavailable: {self.log_problem}"
            missing = [text for text in self.expect if text not in self.log]
            if missing:
                return FAIL, f"Succeeded, but the main container's log lacks {missing[0]!r}"
            return PASS, ""
        failed = [node for node in self.nodes if node.phase in ("Failed", "Error")]
        parts = [self.phase]
        if self.message and all(self.message != node.message for node in failed):
            parts[0] += f": {self.message}"
        parts += [node.describe() for node in failed]
        return FAIL, "; ".join(parts)

    def record_log(self, detail: str = "") -> str:
        """The record's log: the workflow, its phase and pods, the verdict, then the log's tail."""
        lines = [f"Argo Server {self.server_version} at {self.server}, namespace {self.namespace}",
                 f"workflow {self.name}: {self.phase or 'no phase'}" + (f": {self.message}" if self.message else ""),
                 *(node.describe() for node in self.nodes)]
        if detail:
            lines.append(detail)
        if self.log_problem and self.log_problem not in detail:
            lines.append(f"logs unavailable: {self.log_problem}")
        if self.log:
            log = self.log if len(self.log) <= LOG_RECORD_CHARS else "…" + self.log[-(LOG_RECORD_CHARS - 1):]
            lines += ["main container log:", log]
        return "\n".join(lines)


def _selectors(workflow: dict) -> dict[str, dict[str, str]]:
    templates = (workflow.get("spec") or {}).get("templates") or []
    return {t["name"]: dict(t.get("nodeSelector") or {}) for t in templates if isinstance(t, dict) and "name" in t}


def run_workflow(server: ArgoClient, workflow: dict, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 poll_s: float = DEFAULT_POLL_S, progress: Progress | None = None, server_version: str | None = None,
                 expect: Sequence[str] = ()) -> WorkflowResult:
    """Submit a workflow and follow it to a final phase or ``timeout_s``; then read its main containers' log.

    Reads the server's version first unless ``server_version`` is given. Polls ``GET`` from every
    ``poll_s`` up to every ``MAX_POLL_S`` while nothing changes, printing a line when something does.
    ``expect``: texts the main containers' log must hold for the check to pass. Raises (one line)
    only for what stops a whole run: unreachable, a refused token, no such namespace, an unusable answer."""
    progress = progress or Progress()
    if server_version is None:
        server_version = server.version()
        progress.say(server.clean(f"Argo Server {server_version} at {server.shown}"))
    current = server.submit(workflow)
    name = current["metadata"]["name"]
    progress.line(server.clean(f"submitted workflow {name} in namespace {server.namespace}"))
    started = time.monotonic()
    deadline = started + timeout_s
    interval = poll_s
    last, said = None, started
    timed_out = False
    while True:
        current = server.get(name)
        state = _state(current)
        now = time.monotonic()
        if state != last or now - said >= HEARTBEAT_S:  # a line on each change, and now and then while none
            progress.line(server.clean(f"{now - started:5.0f} s  {state}"))
            said = now
        if state != last:
            last, interval = state, poll_s
        else:
            interval = min(interval * 1.5, max(MAX_POLL_S, poll_s))
        if (current.get("status") or {}).get("phase") in FINAL_PHASES:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        time.sleep(min(interval, remaining))
    waited = time.monotonic() - started
    status = current.get("status") or {}
    nodes = pod_nodes(current)
    log, problem = "", None
    if any(node.host or node.phase not in ("", "Pending") for node in nodes):
        read = server.logs(name)
        log, problem = server.clean(read.text()), read.problem
        if problem:
            progress.line(server.clean(f"logs unavailable: {problem}"))
    elif not timed_out:
        problem = "no pod of the workflow started"
    return WorkflowResult(
        name=name, namespace=server.namespace, phase=str(status.get("phase") or ""),
        message=server.clean(_one_line(status.get("message") or "")), nodes=nodes, log=log, log_problem=problem,
        server_version=server_version, server=server.shown, waited_s=waited, timed_out=timed_out,
        expect=tuple(expect), selectors=_selectors(workflow))


# ---------------------------------------------------------------------------------------------
# The check, as the pipeline runs it


def cluster_smoke(planned_targets: Iterable[PlannedTarget], *, url: str, token_env: str | None,
                  insecure: bool = False, namespace: str = DEFAULT_NAMESPACE, hybrid: bool = False,
                  timeout_s: float = DEFAULT_TIMEOUT_S, runner: str = "local",
                  results_dir: Path = results.DEFAULT_DIR, progress: Progress | None = None,
                  poll_s: float = DEFAULT_POLL_S, linux_image: str = DEFAULT_LINUX_IMAGE,
                  executors: dict[str, tuple[str, str]] | None = None) -> list[results.Record]:
    """``invoke smoke --cluster URL``: hello-windows (``hybrid``: hello-hybrid) on the cluster for each
    Windows target, one ``check: workflow`` record each, written to ``results_dir``.

    ``executors``: per target id, (``REPO:TARGET``, digest) of the image under test: the workflow runs it as
    its executor and the record names it (``runner`` is the cluster's name). Without one for a target,
    the workflow runs the cluster's own executor and the record names no image digest (it counts nowhere).

    Linux targets are skipped (said, not recorded): the workflow is the Windows one. A target whose
    workflow fails, stays Pending or is cut off by the timeout gets its record and the next goes on;
    an unreachable server (exit 4), a refused token or a missing namespace (exit 2) stop the run."""
    progress = progress or Progress()
    token = read_token(token_env)
    # Each request within the run's own timeout too (--timeout 15 is not held up by a 30 s answer).
    server = ArgoClient(url, token, insecure=insecure, namespace=namespace, token_name=token_env,
                        timeout_s=min(REQUEST_TIMEOUT_S, max(5.0, timeout_s)))
    records: list[results.Record] = []
    try:
        if insecure:
            progress.say(server.clean(f"warning: --insecure: the certificate of {server.shown} is not verified"))
        if server.plain_http_remote:
            progress.say(server.clean(f"warning: {server.shown} is plain http: the token crosses the network "
                                      "unencrypted"))
        version = server.version()
        runs = "the image under test as its executor" if executors else "the executor its controller is configured with"
        progress.say(server.clean(f"Argo Server {version} at {server.shown}, namespace {namespace}; the workflow runs "
                                  f"{runs}"))
        deadline = math.ceil(timeout_s) + DEADLINE_GRACE_S
        for planned in planned_targets:
            target = planned.target
            if not target.is_windows:
                progress.say(f"skipped {target.id}: the cluster check runs the Windows hello-world; Linux targets "
                             "have none")
                continue
            started = results.Started()
            what = f"{target.id} {CHECK}"
            progress.begin(f"cluster {target.id}: {CHECK}")
            image, digest = (executors or {}).get(target.id, (planned.base_image, None))
            pinned = f"{image.rsplit(':', 1)[0]}@{digest}" if digest else None
            workflow = hello_windows_workflow(target.windows.build.base, planned.base_image, hybrid, linux_image,
                                              deadline_s=deadline, executor_image=pinned)
            if pinned:
                progress.line(f"executor {pinned}")
            expect = (HELLO_WINDOWS, HELLO_LINUX) if hybrid else (HELLO_WINDOWS,)
            result: WorkflowResult | BaseException
            try:
                result = run_workflow(server, workflow, timeout_s=timeout_s, poll_s=poll_s, progress=progress,
                                      server_version=version, expect=expect)
            except (ClusterDenied, Unreachable) as exc:
                progress.end(what, ERROR, server.clean(str(exc)))
                raise
            except ClusterError as exc:  # this target's workflow only (e.g. the server's validation refused it)
                result = exc
                status, detail = ERROR, server.clean(str(exc))
                log = detail
            else:
                status, detail = result.verdict()
                detail = server.clean(detail)
                log = server.clean(result.record_log(detail))
            progress.end(what, status, detail)
            node = None
            if status != ERROR and not isinstance(result, BaseException):
                node = next((n.host for n in result.nodes if n.template == WINDOWS_TEMPLATE and n.host), None)
            # The host is the build the nodeSelector names (the kubelet's node.kubernetes.io/windows-build label),
            # the isolation the one Kubernetes runs Windows pods with (process; Hyper-V is not offered).
            built = WindowsBuild.parse(target.windows.build.base)
            host = HostFacts("windows", built, PROCESS, None, None) if digest else None
            record = results.Record.of(planned, check=CHECK, status=status, started=started, image=image,
                                       image_digest=digest, runner=runner, log=log, host=host,
                                       isolation=PROCESS if digest else None, node=node)
            results.write(record, results_dir)
            records.append(record)
    finally:
        server.close()
    return records
