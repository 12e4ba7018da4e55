"""A stand-in Argo Server on 127.0.0.1 for tests/test_cluster.py, with a pretend cluster behind it.

It answers the four endpoints the cluster check uses with the shapes of the Argo Server's OpenAPI
spec (argoproj/argo-workflows api/openapi-spec/swagger.json, v4.1.2):
- ``GET /api/v1/version``: ``io.argoproj.workflow.v1alpha1.Version`` (all its required fields);
- ``POST /api/v1/workflows/{namespace}``: a ``WorkflowCreateRequest`` in, the created ``Workflow`` out
  (``metadata.name`` = ``generateName`` + 5 characters, ``status`` empty);
- ``GET /api/v1/workflows/{namespace}/{name}``: the ``Workflow`` with ``status.phase``,
  ``status.message`` and ``status.nodes`` (``NodeStatus``: id, name, displayName, type, templateName,
  phase, message, hostNodeName, children...);
- ``GET /api/v1/workflows/{namespace}/{name}/log``: newline-delimited ``{"result": LogEntry}`` objects
  (``content``, ``podName``), as grpc-gateway streams them; a failure before the first line is an HTTP
  error with an ``{"error": StreamError}`` body, one after it an ``{"error": ...}`` line.
Errors are grpc-gateway's JSON (``{"code": <gRPC code>, "message": ...}``) with the HTTP status the
Argo Server derives from the gRPC code (server/utils/errors.go).

The pretend cluster has nodes with labels. Each GET of a workflow advances it one step, the way the
controller (workflow/controller/operator.go) reports it: no phase until a controller takes it up, then
``Running`` with its pods one at a time (steps run in order): ``Pending`` without a node, ``Running`` on
the node whose labels match the pod's nodeSelector, then ``Succeeded`` (or ``Failed`` with a message).
A pod no node matches stays ``Pending`` with the scheduler's reason as the controller words it
(getPendingReason: ``Unschedulable: <the PodScheduled condition's message>``). Pod and node IDs follow
workflow/util/pod_name.go (v2 names) and the controller's ``<workflow>-<fnv32a(node name)>`` IDs.

Each pod's executor is the controller's (``executor``) in its ``init`` and ``wait`` containers, unless the
template's ``podSpecPatch`` changes them: the controller adds init and wait first and applies the patch
after (workflow/controller/workflowpod.go ``createWorkflowPod``: ``processPodSpecPatch``, then
workflow/util/util.go ``ApplyPodSpecPatch``), a strategic merge on ``PodSpec`` in which
``initContainers`` and ``containers`` merge by ``name`` (k8s.io/api core/v1 types.go). Modelled: YAML or
JSON patches; a patch that is not a PodSpec fails the node (``Error``, "Error applying PodSpecPatch"), as
the controller's error does; an executor image in ``unpullable`` keeps the pod ``Pending`` with
``ErrImagePull`` (the kubelet cannot start its init container). ``pods`` lists every pod that ran: its
template, node and the images of its init, wait and main containers.

Knobs (attributes of ``ArgoState``): ``token`` (the gatekeeper's 401 for any other Authorization),
``refuse_submit`` (401 or 403 from Kubernetes at every submit; 500 at the next one), ``namespaces`` (404 for any other),
``nodes``, ``fail_template`` (its pod fails), ``no_controller`` (no status ever), ``logs`` ("ok",
"http-error", "stream-error", "empty"), ``log_text`` (replaces the echo's output), ``leak`` (the
server puts the Authorization it got into its error messages and logs: for the redaction tests).
``requests`` records (method, path, query, Authorization header, JSON body) of every request.
"""

from __future__ import annotations

import json
import random
import ssl
import string
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from tests.http_body import read_body, send_json

VERSION = {  # io.argoproj.workflow.v1alpha1.Version: every field is required
    "version": "v4.1.2", "buildDate": "2026-10-30T10:00:00Z", "gitCommit": "f016ad89eb0000000000000000000000000000aa",
    "gitTag": "v4.1.2", "gitTreeState": "clean", "goVersion": "go1.25.5", "compiler": "gc", "platform": "linux/amd64",
}
WINDOWS_NODE = {"name": "akswin000000", "labels": {"kubernetes.io/os": "windows",
                                                   "node.kubernetes.io/windows-build": "10.0.20348"}}
LINUX_NODES = [{"name": f"aks-system-{i}", "labels": {"kubernetes.io/os": "linux"}} for i in range(2)]
UNSCHEDULABLE = ("0/{n} nodes are available: {n} node(s) didn't match Pod's node affinity/selector. preemption: "
                 "0/{n} nodes are available: {n} Preemption is not helpful for scheduling.")
FAILURE_MESSAGE = "main: Error (exit code -1073741515)"  # 0xC0000135, STATUS_DLL_NOT_FOUND


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits (Go's hash/fnv New32a), as the controller hashes node names."""
    h = 2166136261
    for b in text.encode():
        h = ((h ^ b) * 16777619) % 2**32
    return h


def error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


@dataclass
class Pod:
    node_name: str  # the NodeStatus name: the workflow's name, or <workflow>[i].<step>
    display: str
    template: dict
    step: int = 0  # 0 not yet created; 1 Pending; 2 Running; 3 done
    phase: str = "Pending"
    message: str = ""
    host: str | None = None
    images: dict[str, str] = field(default_factory=dict)  # container name -> image, after the podSpecPatch


@dataclass
class Workflow:
    body: dict
    pods: list[Pod]
    steps_template: str | None
    gets: int = 0


@dataclass
class ArgoState:
    token: str | None = None
    namespaces: tuple[str, ...] = ("argo",)
    nodes: list[dict] = field(default_factory=lambda: [WINDOWS_NODE, *LINUX_NODES])
    refuse_submit: int | None = None
    fail_template: str | None = None
    no_controller: bool = False
    logs: str = "ok"
    log_text: str | None = None
    leak: bool = False
    executor: str = "quay.io/argoproj/argoexec:v4.1.2"  # the controller's --executor-image
    unpullable: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, dict, str | None, dict | None]] = field(default_factory=list)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submitted(self) -> list[dict]:
        """The WorkflowCreateRequest bodies received, in order."""
        return [body for method, path, _, _, body in self.requests if method == "POST" and body is not None]

    def paths(self) -> list[str]:
        return [f"{method} {path}" for method, path, *_ in self.requests]

    def pods(self) -> list[dict]:
        """Every pod scheduled so far: its template, node and container images."""
        with self.lock:
            return [{"template": pod.template["name"], "node": pod.host, **pod.images}
                    for workflow in self.workflows.values() for pod in workflow.pods if pod.host]


class PatchError(ValueError):
    pass


def apply_pod_spec_patch(containers: dict[str, list[dict]], patch: str) -> dict[str, list[dict]]:
    """The pod's init and regular containers after ``patch`` (YAML or JSON), merged by name as a strategic
    merge patch on PodSpec merges them; PatchError for what ApplyPodSpecPatch refuses."""
    try:
        document = yaml.safe_load(patch)
    except yaml.YAMLError as exc:
        raise PatchError(f"Failed to convert the PodSpecPatch yaml to json: {exc}") from None
    if not isinstance(document, dict):
        raise PatchError(f"invalid podSpecPatch {patch!r}: not a PodSpec")
    merged = {key: [dict(c) for c in value] for key, value in containers.items()}
    for key in ("initContainers", "containers"):
        items = document.get(key, [])
        if not isinstance(items, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                                  for c in items):
            raise PatchError(f"invalid podSpecPatch {patch!r}: {key} must be a list of containers with a name")
        for item in items:
            same = next((c for c in merged[key] if c["name"] == item["name"]), None)
            if same is None:
                merged[key].append(dict(item))  # a name the pod lacks is added, as a merge by key does
            else:
                same.update(item)
    return merged


def _pods(name: str, spec: dict, executor: str) -> tuple[list[Pod], str | None]:
    templates = {t["name"]: t for t in spec["templates"]}
    entry = templates[spec["entrypoint"]]
    if "steps" not in entry:
        pods = [Pod(name, name, entry)]
    else:
        pods = [Pod(f"{name}[{index}].{step['name']}", step["name"], templates[step["template"]])
                for index, group in enumerate(entry["steps"]) for step in group]
    for pod in pods:
        # createWorkflowPod: wait, then main; init; then the workflow's and the template's patches.
        containers = {"initContainers": [{"name": "init", "image": executor}],
                      "containers": [{"name": "wait", "image": executor},
                                     {"name": "main", "image": pod.template["container"]["image"]}]}
        try:
            for patch in (spec.get("podSpecPatch"), pod.template.get("podSpecPatch")):
                if patch:
                    containers = apply_pod_spec_patch(containers, patch)
        except PatchError as exc:
            pod.phase, pod.message = "Error", f"Error applying PodSpecPatch: {exc}"
            continue
        pod.images = {c["name"]: c.get("image", "") for key in ("initContainers", "containers")
                      for c in containers[key]}
    return pods, entry["name"] if "steps" in entry else None


def pod_name(workflow: str, pod: Pod) -> str:
    # workflow/util/pod_name.go, v2: the root node's pod is named after the workflow.
    if pod.node_name == workflow:
        return workflow
    return f"{workflow}-{pod.template['name']}-{fnv32a(pod.node_name)}"


def _echo(template: dict) -> str:
    container = template["container"]
    argv = [*container.get("command", []), *container.get("args", [])]
    if argv[:2] == ["cmd", "/c"]:
        # Go's syscall.EscapeArg quotes an argument with spaces, and cmd's echo prints the quotes.
        return " ".join(f'"{a}"' if " " in a else a for a in argv[3:]) if argv[2:3] == ["echo"] else ""
    return " ".join(argv[1:]) if argv[:1] == ["echo"] else ""


class ArgoHandler(BaseHTTPRequestHandler):
    state: ArgoState  # set on the class made per server

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------------------------


    def _auth(self) -> str | None:
        return self.headers.get("Authorization")

    def _leaky(self, message: str) -> str:
        return f"{message} (got Authorization: {self._auth()})" if self.state.leak else message

    def _route(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        body = None
        if method == "POST":
            raw = read_body(self)
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
        state = self.state
        with state.lock:
            state.requests.append((method, url.path, query, self._auth(), body))
        # server/auth/gatekeeper.go: a request whose Authorization no auth mode accepts.
        if state.token is not None and self._auth() != f"Bearer {state.token}":
            return send_json(self, 401, error(16, self._leaky(
                "token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/")))
        parts = url.path.strip("/").split("/")
        if url.path == "/api/v1/version" and method == "GET":
            return send_json(self, 200, VERSION)
        if parts[:3] != ["api", "v1", "workflows"] or len(parts) < 4:
            return send_json(self, 404, error(5, f"Not Found: {url.path}"))
        namespace = parts[3]
        if namespace not in state.namespaces:
            return send_json(self, 404, error(5, f'namespaces "{namespace}" not found'))
        if len(parts) == 4 and method == "POST":
            return self._create(namespace, body)
        if len(parts) == 5 and method == "GET":
            return self._get(namespace, parts[4])
        if len(parts) == 6 and parts[5] == "log" and method == "GET":
            return self._log(namespace, parts[4], query)
        return send_json(self, 404, error(5, "Not Found"))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    # -- the endpoints ---------------------------------------------------------------------------

    def _create(self, namespace: str, body: dict | None) -> None:
        state = self.state
        if state.refuse_submit == 401:  # client auth mode: Kubernetes refuses the token on its first use
            return send_json(self, 401, error(16, self._leaky("Unauthorized")))
        if state.refuse_submit == 500:  # Kubernetes' own trouble, passed on as Internal (once)
            state.refuse_submit = None
            return send_json(self, 500, error(13, "etcdserver: request timed out"))
        if state.refuse_submit == 403:
            return send_json(self, 403, error(7, self._leaky(
                'workflows.argoproj.io is forbidden: User "system:serviceaccount:argo:ci" cannot create resource '
                f'"workflows" in API group "argoproj.io" in the namespace "{namespace}"')))
        workflow = (body or {}).get("workflow")
        if not isinstance(workflow, dict) or (body or {}).get("namespace") != namespace:
            return send_json(self, 400, error(3, "workflow body not specified"))
        spec = workflow.get("spec") or {}
        if not spec.get("entrypoint") or not spec.get("templates"):
            return send_json(self, 400, error(3, "spec.entrypoint and spec.templates are required"))
        generate = (workflow.get("metadata") or {}).get("generateName") or "workflow-"
        name = generate + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        created = json.loads(json.dumps(workflow))
        created["metadata"] = {**created.get("metadata", {}), "name": name, "namespace": namespace,
                               "uid": "4f6c3e1a-0000-4000-8000-000000000001", "resourceVersion": "4242",
                               "creationTimestamp": "2026-11-02T10:00:00Z",
                               "labels": {"workflows.argoproj.io/creator": "system-serviceaccount-argo-ci"}}
        created["status"] = {}
        pods, steps = _pods(name, spec, state.executor)
        with state.lock:
            state.workflows[name] = Workflow(created, pods, steps)
        return send_json(self, 200, created)

    def _advance(self, workflow: Workflow) -> None:
        """One step of the pretend controller, kubelet and scheduler."""
        workflow.gets += 1
        if self.state.no_controller or workflow.gets == 1:
            return  # the first GET sees what was created: no status yet
        for pod in workflow.pods:
            if pod.step == 3:
                if pod.phase in ("Failed", "Error"):
                    return
                continue
            if pod.phase == "Error":  # the controller could not make the pod: the node errs at once
                pod.step = 3
                return
            pod.step += 1
            if pod.step == 2 and any(image in self.state.unpullable for image in pod.images.values()):
                pod.step = 1
                pod.message = "ErrImagePull: failed to pull and unpack image: not found"
            elif pod.step == 2:
                match = [n for n in self.state.nodes
                         if all(n["labels"].get(k) == v for k, v in (pod.template.get("nodeSelector") or {}).items())]
                if not match:
                    pod.step = 1
                    pod.message = "Unschedulable: " + UNSCHEDULABLE.format(n=len(self.state.nodes))
                else:
                    pod.phase, pod.host, pod.message = "Running", match[0]["name"], ""
            elif pod.step == 3:
                if pod.template["name"] == self.state.fail_template:
                    pod.phase, pod.message = "Failed", FAILURE_MESSAGE
                else:
                    pod.phase = "Succeeded"
            return

    def _status(self, workflow: Workflow) -> dict:
        name = workflow.body["metadata"]["name"]
        if self.state.no_controller or workflow.gets == 1:
            return {}
        started = [p for p in workflow.pods if p.step > 0]
        failed = [p for p in started if p.phase in ("Failed", "Error")]
        done = all(p.step == 3 and p.phase == "Succeeded" for p in workflow.pods)
        phase = "Failed" if failed else "Succeeded" if done else "Running"
        nodes = {}
        for pod in started:
            node_id = name if pod.node_name == name else f"{name}-{fnv32a(pod.node_name)}"
            node = {"id": node_id, "name": pod.node_name, "displayName": pod.display, "type": "Pod",
                    "templateName": pod.template["name"], "templateScope": f"local/{name}", "phase": pod.phase,
                    "startedAt": f"2026-11-02T10:00:{10 + workflow.pods.index(pod):02d}Z"}
            if pod.message:
                node["message"] = pod.message
            if pod.host:
                node["hostNodeName"] = pod.host
            nodes[node_id] = node
        if workflow.steps_template:
            children = [f"{name}-{fnv32a(f'{name}[{i}]')}" for i in range(len(started))]
            nodes[name] = {"id": name, "name": name, "displayName": name, "type": "Steps",
                           "templateName": workflow.steps_template, "phase": phase, "children": children[:1]}
            for i, pod in enumerate(started):
                nodes[children[i]] = {"id": children[i], "name": f"{name}[{i}]", "displayName": f"[{i}]",
                                      "type": "StepGroup", "phase": pod.phase, "boundaryID": name}
        status: dict = {"phase": phase, "startedAt": "2026-11-02T10:00:05Z", "nodes": nodes,
                        "progress": f"{sum(p.phase == 'Succeeded' for p in workflow.pods)}/{len(workflow.pods)}"}
        if failed:
            status["message"] = failed[0].message if not workflow.steps_template else \
                f"child '{name}-{fnv32a(failed[0].node_name)}' failed"
        if phase in ("Succeeded", "Failed"):
            status["finishedAt"] = "2026-11-02T10:01:00Z"
        return status

    def _get(self, namespace: str, name: str) -> None:
        with self.state.lock:
            workflow = self.state.workflows.get(name)
            if workflow is None or workflow.body["metadata"]["namespace"] != namespace:
                return send_json(self, 404, error(5, f'workflows.argoproj.io "{name}" not found'))
            self._advance(workflow)
            answer = json.loads(json.dumps(workflow.body))
            answer["status"] = self._status(workflow)
            if workflow.gets > 1 and not self.state.no_controller:
                # the controller's setWfPodNamesAnnotation
                answer["metadata"]["annotations"] = {"workflows.argoproj.io/pod-name-format": "v2"}
        return send_json(self, 200, answer)

    def _log(self, namespace: str, name: str, query: dict) -> None:
        state = self.state
        with state.lock:
            workflow = state.workflows.get(name)
            lines = []
            if workflow is not None:
                for pod in workflow.pods:
                    pod_id = pod_name(name, pod)
                    if pod.host is None or query.get("podName") not in (None, pod_id):
                        continue
                    if query.get("logOptions.container") != "main":
                        continue  # init and wait log argoexec's own lines; the test asks for main's
                    text = state.log_text if state.log_text is not None else _echo(pod.template)
                    if state.leak:
                        text += f"\nAuthorization: {self._auth()}"
                    lines += [{"result": {"content": line, "podName": pod_id}} for line in text.splitlines()]
        if workflow is None:
            return send_json(self, 404, error(5, f'workflows.argoproj.io "{name}" not found'))
        if state.logs == "http-error":  # failed before the first line: the status derives from the gRPC code
            return send_json(self, 500, {"error": {
                "grpc_code": 13, "http_code": 500, "http_status": "Internal Server Error",
                "message": 'pods "x" is forbidden: cannot get resource "pods/log"'}})
        if state.logs == "empty":
            lines = []
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        for item in lines:
            self.wfile.write(json.dumps(item).encode() + b"\n")
            if state.logs == "stream-error":
                self.wfile.write(json.dumps({"error": {"grpc_code": 14, "http_code": 503, "http_status":
                                                       "Service Unavailable", "message": "stream closed"}}).encode()
                                 + b"\n")
                break
        self.close_connection = True


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client refusing the self-signed certificate breaks the handshake: expected, not news


class ArgoServer:
    """The stand-in server, started on a free port of 127.0.0.1; ``tls`` serves https."""

    def __init__(self, state: ArgoState | None = None, tls: ssl.SSLContext | None = None):
        self.state = state or ArgoState()
        handler = type("Handler", (ArgoHandler,), {"state": self.state})
        self.httpd = _Quiet(("127.0.0.1", 0), handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> ArgoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
