"""Smoke tests of built images: each check of ``checks.smoke_checks(target)`` in a container.

Each check runs in a fresh container with the isolation the plan chose for this engine's host,
has a timeout, and its container is always removed. Where the host cannot run the image, the
check is recorded as ``not-runnable`` with the rule that forbids it, and not attempted.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests

from . import checks, node_notes, results
from .checks import Check
from .engine import Engine, pull, redact_url
from .errors import BuilderError, Unreachable
from .plan import DEFAULT_ISOLATION, PlannedTarget
from .progress import Progress
from .reference import Reference
from .retry import RetryPolicy, TryAgain
from .targets import Target

DEFAULT_TIMEOUT_S = 120
# Removing a check's container: Windows' HCS can hold on to it for a few seconds after it exits.
REMOVE_ATTEMPTS = 4
REMOVE_PAUSE_S = 1.0


@dataclass(frozen=True)
class SmokeOptions:
    repo: str  # the repository holding the images, as <repo>:<target-id>
    results_dir: Path = results.DEFAULT_DIR
    runner: str = "local"
    network_mode: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def run_container(engine: Engine, image: str, entrypoint: list[str] | None, command: list[str],
                  isolation: str | None, network_mode: str | None, timeout_s: float, *,
                  environment: dict[str, str] | None = None, mounts: list | None = None,
                  user: str | None = None) -> tuple[int | None, str]:
    """Run one container to completion (or the timeout) and return (exit code, output); always remove it."""
    options: dict[str, Any] = {"command": command, "detach": True}
    if user:
        options["user"] = user
    if entrypoint is not None:
        options["entrypoint"] = list(entrypoint)
    if isolation and isolation != DEFAULT_ISOLATION:
        options["isolation"] = isolation
    if network_mode:
        options["network_mode"] = network_mode
    if environment:
        options["environment"] = environment
    if mounts:
        options["mounts"] = mounts
    container = engine.client.containers.create(image, **options)
    try:
        container.start()
        try:
            exit_code = container.wait(timeout=timeout_s)["StatusCode"]
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            exit_code = None
            try:
                container.kill()
            except docker.errors.APIError:
                pass
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return exit_code, output
    finally:
        _remove(container)


def run_check(engine: Engine, image: str, check: Check, command: list[str], isolation: str | None,
              network_mode: str | None, timeout_s: float) -> tuple[int | None, str]:
    """An ``image`` check: one container of the image under test."""
    return run_container(engine, image, list(check.entrypoint) if check.entrypoint is not None else None, command,
                         isolation, network_mode, timeout_s)


# ---------------------------------------------------------------------------------------------
# The pod shape (argoproj/argo-workflows v4.1.2, workflow/controller/workflowpod.go and cmd/argoexec):
# every container of a workflow pod mounts the emptyDir `var-run-argo` at /var/run/argo (a Windows
# kubelet mounts it at C:\var\run\argo; argoexec keeps using /var/run/argo, which Windows resolves on
# the system drive). init runs `argoexec init ...` from the executor image and copies its own binary to
# /var/run/argo/argoexec (no .exe) and the template to /var/run/argo/template; the main container, from
# the step's own image, runs `/var/run/argo/argoexec emissary ... -- <command>`, and emissary writes the
# command's exit code to /var/run/argo/ctr/main/exitcode. `argoexec wait` needs the Kubernetes API and
# is left to a cluster (`invoke smoke --cluster`).

ARGO_DIR = "/var/run/argo"
MOUNT_POINT = {"windows": "C:\\var\\run\\argo", "linux": ARGO_DIR}
IN_POD_ARGOEXEC = f"{ARGO_DIR}/argoexec"
LOG_FLAGS = ["--loglevel", "info", "--log-format", "text", "--gloglevel", "0"]
# init loads a kube config, but for a template without artifacts it calls no API: a server override
# (client-go's --server flag) satisfies it, as the in-cluster config would. It must be http://. argoexec's
# client config reads os.Stdin for what it lacks (util/kube/cli/cli.go, NewInteractiveDeferredLoadingClientConfig),
# and for an https server with no token, certificate or user, client-go prompts for a username there
# (tools/clientcmd/client_config.go, getUserIdentificationPartialConfig; auth_loaders.go, PromptingAuthLoader):
# a container's stdin is empty, the prompt reads EOF and init exits 2 with a working executor. For an http
# server client-go reads no user identification at all (docs/argo.md, "How a pod runs the executor").
INIT_SERVER = "http://kubernetes.default.svc"
NO_DEADLINE = "0001-01-01T00:00:00Z"
LISTING_END = "--- exitcode ---"
LISTING_FAILED = "--- cannot list ---"
# The controller's defaults for progress reporting (workflow/controller/controller.go at v4.1.2, the
# controller's constructor: ARGO_PROGRESS_PATCH_TICK_DURATION 1m, ARGO_PROGRESS_FILE_TICK_DURATION 3s), as Go's
# time.Duration.String() writes them; both non-zero, so every container gets the progress variables.
PROGRESS_PATCH_TICK = "1m0s"
PROGRESS_FILE_TICK = "3s"


def pod_spec_env(container: str, template: str, names: dict[str, str]) -> list[tuple[str, str]]:
    """The env list the controller writes into the pod spec for ``init`` or ``main``, in its order, for a plain
    container template in upstream's legacy layout (argoproj/argo-workflows v4.1.2, workflow/controller/
    workflowpod.go); ``names`` holds the pod's names and uids.

    - init is built by ``newExecContainer``, whose env is ``createEnvVars`` (lines 1212-1250): ARGO_POD_NAME and
      ARGO_POD_UID (downward API: metadata.name, metadata.uid), ARGO_WORKFLOW_NAME, ARGO_WORKFLOW_UID (no
      instance ID, no executor env configured). ``podBuilder.build`` then appends, for each init container
      (lines 676-681): ARGO_CONTAINER_NAME, ARGO_TEMPLATE, then the standard list.
    - main gets (lines 682-699) ARGO_CONTAINER_NAME and the standard list. No ARGO_TEMPLATE: the legacy layout
      never gives it to main (workflowpod_layout.go, ``legacyLayout.mainNeedsTemplateEnv`` is false, as init
      writes /var/run/argo/template), so a template init failed to write is not hidden by emissary's fallback
      to the variable.
    - The standard list (lines 644-674): ARGO_NODE_ID, ARGO_INCLUDE_SCRIPT_OUTPUT, ARGO_DEADLINE,
      ARGO_WORKFLOW_NAME, no trace context (none is configured), then ARGO_PROGRESS_FILE,
      ARGO_PROGRESS_PATCH_TICK_DURATION and ARGO_PROGRESS_FILE_TICK_DURATION (progress is on by default).
    """
    standard = [("ARGO_NODE_ID", names["node"]), ("ARGO_INCLUDE_SCRIPT_OUTPUT", "false"),
                ("ARGO_DEADLINE", NO_DEADLINE), ("ARGO_WORKFLOW_NAME", names["workflow"]),
                ("ARGO_PROGRESS_FILE", f"{ARGO_DIR}/progress"),
                ("ARGO_PROGRESS_PATCH_TICK_DURATION", PROGRESS_PATCH_TICK),
                ("ARGO_PROGRESS_FILE_TICK_DURATION", PROGRESS_FILE_TICK)]
    if container == "init":
        return [("ARGO_POD_NAME", names["pod"]), ("ARGO_POD_UID", names["pod_uid"]),
                ("ARGO_WORKFLOW_NAME", names["workflow"]), ("ARGO_WORKFLOW_UID", names["workflow_uid"]),
                ("ARGO_CONTAINER_NAME", "init"), ("ARGO_TEMPLATE", template), *standard]
    return [("ARGO_CONTAINER_NAME", container), *standard]


def pod_environment(target: Target, container: str, template: str, names: dict[str, str]) -> dict[str, str]:
    """The environment the container's process gets: the pod spec's list with a name given twice set once, its
    last value winning, as the kubelet does (ARGO_WORKFLOW_NAME is in init's list twice, with one value)."""
    return dict(pod_spec_env(container, template, names))


def pod_template(target: Target, check: Check) -> str:
    """The template JSON init writes to /var/run/argo/template: the step as the workflow declares it."""
    command = check.argv(target)
    template = {"name": "main", "container": {"image": "stock-base", "command": command[:1], "args": command[1:]}}
    if check.output_parameter is not None:
        path, _ = check.output_parameter(target)
        template["outputs"] = {"parameters": [{"name": "result", "valueFrom": {"path": path}}]}
    return json.dumps(template, separators=(",", ":"))


PARAMETER_START = "--- parameter ---"


def saved_parameter_path(target: Target, path: str) -> str:
    """Where the wait container reads a saved output parameter: filepath.Join("/var/run/argo", "outputs",
    "parameters", path) (workflow/executor/emissary/emissary.go, GetFileContents), with the target's separators,
    on the volume's mount point. A Windows path keeps its drive letter and colon inside it, as Join does."""
    if target.is_windows:
        parts = [part for part in path.replace("/", "\\").split("\\") if part]
        return "\\".join([MOUNT_POINT["windows"], "outputs", "parameters", *parts])
    return "/".join([ARGO_DIR, "outputs", "parameters", *[part for part in path.split("/") if part]])


def _reader(target: Target, check: Check | None = None) -> tuple[list[str], list[str]]:
    """A container of the stock base that lists the volume and prints ctr/main/exitcode. It exits 0 once it
    ran: a missing exitcode file is an answer (emissary lost it), not a failed read. A listing that fails
    (the volume denied to the user it runs as) prints LISTING_FAILED, so that it is not read as an empty
    volume."""
    saved = saved_parameter_path(target, check.output_parameter(target)[0]) \
        if check is not None and check.output_parameter is not None else None
    if target.is_windows:
        folder = MOUNT_POINT["windows"]
        exitcode = f"{folder}\\ctr\\main\\exitcode"
        parameter = f" & echo. & echo {PARAMETER_START} & type \"{saved}\" 2>nul" if saved else ""
        return ["cmd", "/S", "/C"], [f"dir /b {folder} || echo {LISTING_FAILED} & echo {LISTING_END} & "
                                     f"type {exitcode} 2>nul{parameter} & exit 0"]
    parameter = f"; echo; echo '{PARAMETER_START}'; cat '{saved}' 2>/dev/null" if saved else ""
    return ["sh", "-c"], [f"ls {ARGO_DIR} || echo '{LISTING_FAILED}'; echo '{LISTING_END}'; "
                          f"cat {ARGO_DIR}/ctr/main/exitcode 2>/dev/null{parameter}; exit 0"]


# The volume's ACL on Windows. A Docker named volume lives under the engine's data root, which moby creates with
# an ACL that grants only BUILTIN\Administrators and SYSTEM, inherited by everything below it (moby
# daemon/daemon_windows.go, setupDaemonRoot: system.MkdirAllWithACL(root, SddlAdministratorsLocalSystem)). init runs
# as ContainerAdministrator (the image's user), but main and the reader run as the stock nanoserver's default
# user, ContainerUser, who is in BUILTIN\Users only: it could not run /var/run/argo/argoexec, create ctr\main
# or list the folder. A Kubernetes emptyDir is usable by every container of the pod, so before init a
# ContainerAdministrator step grants BUILTIN\Users (S-1-5-32-545, by SID: no localised name) modify rights,
# inherited by what init and main create (OI: files, CI: folders).
ACL_USER = "ContainerAdministrator"
USERS_SID = "S-1-5-32-545"
ACL_COMMAND = ["icacls"]


def volume_acl_step(target: Target) -> tuple[list[str], list[str]] | None:
    """(entrypoint, command) of the step that makes the volume usable by ContainerUser; None on Linux."""
    if not target.is_windows:
        return None
    return ACL_COMMAND, [MOUNT_POINT["windows"], "/grant", f"*{USERS_SID}:(OI)(CI)M"]


@dataclass
class PodRun:
    status: str
    detail: str  # "<step>: what went wrong", empty on a pass
    log: str  # every step's output, each under its name


def run_pod(engine: Engine, image: str, base_image: str, target: Target, check: Check, isolation: str | None,
            network_mode: str | None, timeout_s: float) -> PodRun:
    """init from ``image``, then main from ``base_image``, sharing a fresh volume; a failure names its step.
    The containers and the volume are always removed."""
    import docker.types

    suffix = uuid.uuid4().hex[:12]
    pod = f"smoke-{check.name}-{suffix}"
    names = {"workflow": f"smoke-{check.name}", "workflow_uid": str(uuid.uuid4()), "pod": pod,
             "pod_uid": str(uuid.uuid4()), "node": pod}
    template = pod_template(target, check)
    volume = engine.client.volumes.create(name=f"argoexec-smoke-{suffix}")
    mounts = [docker.types.Mount(target=MOUNT_POINT[target.os], source=volume.name, type="volume")]
    logs: list[str] = []

    def step(name: str, run_image: str, entrypoint: list[str] | None, command: list[str],
             env: dict[str, str] | None, user: str | None = None) -> tuple[int | None, str, str]:
        """(exit code, output, why it could not start: "" when it ran)."""
        try:
            code, output = run_container(engine, run_image, entrypoint, command, isolation, network_mode,
                                         timeout_s, environment=env, mounts=mounts, user=user)
        except docker.errors.APIError as exc:  # e.g. the engine cannot exec /var/run/argo/argoexec
            why = " ".join(str(exc.explanation or exc).split())
            logs.append(f"[{name}] could not start: {why}")
            return None, "", why
        logs.append(f"[{name}] exit {code}\n{output.rstrip()}")
        return code, output, ""

    try:
        acl = volume_acl_step(target)
        if acl is not None:
            acl_code, acl_output, acl_unstarted = step("acl", base_image, *acl, None, user=ACL_USER)
            if acl_code != 0:
                why = f"could not start: {acl_unstarted}" if acl_unstarted else \
                    "timed out" if acl_code is None else f"exit code {acl_code}: {' '.join(acl_output.split())[:200]}"
                return PodRun(checks.ERROR, f"acl: could not grant BUILTIN\\Users access to the volume ({why})",
                              "\n".join(logs))
        code, _, unstarted = step("init", image, None, ["init", *LOG_FLAGS, "--server", INIT_SERVER],
                                  pod_environment(target, "init", template, names))
        if code != 0:
            why = f"could not start: {unstarted}" if unstarted else "timed out" if code is None else f"exit code {code}"
            return PodRun(checks.FAIL if code is not None or unstarted else checks.ERROR, f"init: {why}",
                          "\n".join(logs))
        command = check.argv(target)
        main_command = ["emissary", *LOG_FLAGS, "--", *command] if check.emissary else command
        main_code, main_output, main_unstarted = step("main", base_image, [IN_POD_ARGOEXEC], main_command,
                                                      pod_environment(target, "main", template, names))
        read_code, listing, read_unstarted = step("read", base_image, *_reader(target, check), None)
        if read_code != 0:
            # Without the listing nothing can be said of init or emissary: the check could not be made.
            why = f"could not start: {read_unstarted}" if read_unstarted else \
                "timed out" if read_code is None else f"exit code {read_code}"
            return PodRun(checks.ERROR, f"read: the volume could not be read ({why})", "\n".join(logs))
        return _judge_pod(target, check, (main_code, main_output, main_unstarted), listing, "\n".join(logs))
    finally:
        try:
            volume.remove(force=True)
        except docker.errors.APIError as exc:
            print(f"warning: could not remove volume {volume.name}: {exc.explanation or exc}")


def _judge_pod(target: Target, check: Check, main: tuple[int | None, str, str], listing: str, log: str) -> PodRun:
    """A pod check's verdict from what the reader found on the volume (the files init left, emissary's exit code
    file, the saved output parameter) and the main step's (exit code, output, why it could not start)."""
    main_code, main_output, main_unstarted = main
    listing, _, parameter = listing.partition(PARAMETER_START)
    files, _, exitcode = listing.partition(LISTING_END)
    if LISTING_FAILED in files:
        # The reader could not list the volume: nothing can be said of what init left there.
        said = " ".join(files.replace(LISTING_FAILED, "").split())[:200]
        return PodRun(checks.ERROR, f"read: the volume could not be listed ({said or 'no reason given'})", log)
    present = {line.strip() for line in files.splitlines()}
    missing = [name for name in ("argoexec", "template") if name not in present]
    if missing:
        return PodRun(checks.FAIL, f"init: exit 0 but left no {' and no '.join(missing)} in {ARGO_DIR}", log)
    if main_unstarted:
        return PodRun(checks.FAIL, f"main: could not start {IN_POD_ARGOEXEC}: {main_unstarted}", log)
    status, why = check.judge(target, main_code, main_output)
    if status != checks.PASS:
        if check.output_parameter is not None and main_output.strip():
            why += f" ({main_output.strip().splitlines()[-1].strip()[:200]})"  # e.g. saveParameter's error
        return PodRun(status, f"main: {why}", log)
    if check.emissary:
        written = exitcode.strip()
        if written != str(check.exit_code):
            return PodRun(checks.FAIL, f"main: emissary wrote {written or 'no'} ctr/main/exitcode, expected "
                                       f"{check.exit_code}", log)
    if check.output_parameter is not None:
        path, value = check.output_parameter(target)
        if parameter.strip() != value:
            found = f"found {parameter.strip()[:60]!r}" if parameter.strip() else "found nothing"
            return PodRun(checks.FAIL, f"main: emissary did not save output parameter {path} at "
                                       f"{saved_parameter_path(target, path)} ({found})", log)
    return PodRun(checks.PASS, "", log)


def _remove(container) -> None:
    """Remove a check's container; a refusal (HCS can be slow to let go) is retried under the project's one
    retry policy (REMOVE_ATTEMPTS, from REMOVE_PAUSE_S doubling), and never changes the check's result."""
    def attempt() -> None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            why = exc.explanation or exc
            raise TryAgain(lambda n: BuilderError(f"could not remove container {container.id[:12]} after {n} "
                                                  f"attempts: {why}")) from None

    try:
        RetryPolicy(REMOVE_ATTEMPTS, REMOVE_PAUSE_S).run(attempt)
    except BuilderError as exc:
        print(f"warning: {exc}")


def _image_for_check(engine: Engine, image: str, progress: Progress) -> str | None:
    """The image to check, as a digest when it came from a registry (else its ID).

    An image in a registry is always pulled first: a runner that kept last night's copy must test
    tonight's. A local tag (the docker builder's own) is used as it is."""
    reference = Reference.parse(image)
    if reference.registry_named:
        error = pull(engine, image, progress)
        if error:
            progress.line(error)
            return None
    try:
        attrs = engine.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return None
    digests = [d.split("@", 1)[1] for d in attrs.get("RepoDigests") or []
               if d.startswith(reference.familiar_name + "@")]
    return digests[0] if digests else attrs["Id"]


def _base_for_pod(engine: Engine, base_image: str, progress: Progress) -> str | None:
    """The stock base the main container runs in (the target's nanoserver, mirrors honoured): on the
    engine or pulled; the reason when it cannot be had."""
    try:
        engine.api.inspect_image(base_image)
        return None
    except docker.errors.ImageNotFound:
        error = pull(engine, base_image, progress)
        return f"main: cannot pull the stock base {base_image}: {error}" if error else None


def smoke_targets(engine: Engine, plans: list[PlannedTarget], options: SmokeOptions,
                  progress: Progress) -> list[results.Record]:
    """Run every smoke check of each planned target on this engine and record each."""
    records = []
    for planned in plans:
        target = planned.target
        image = target.tagged(options.repo)
        here = planned.smoke_here
        try:
            image_id = _image_for_check(engine, image, progress) if here else None
            base_ready = _base_for_pod(engine, planned.base_image, progress) if here and image_id else None
        except (requests.ConnectionError, requests.Timeout):
            raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)}; check it and run again") from None
        for check in checks.smoke_checks(target):
            started = results.Started()
            progress.begin(f"smoke {target.id}: {check.name}")
            if here is None:
                status, detail = checks.NOT_RUNNABLE, planned.not_runnable or "this host cannot run it"
                log = detail
            elif image_id is None:
                status, detail = checks.ERROR, f"{image} is not on this engine nor pullable; run `invoke build` first"
                log = detail
            elif check.kind == checks.POD and base_ready is not None:
                status, detail = checks.ERROR, base_ready
                log = detail
            else:
                try:
                    if check.kind == checks.POD:
                        pod = run_pod(engine, image, planned.base_image, target, check, here.isolation,
                                      options.network_mode, options.timeout_s)
                        status, detail, log = pod.status, pod.detail, pod.log
                    else:
                        exit_code, log = run_check(engine, image, check, check.argv(target), here.isolation,
                                                   options.network_mode, options.timeout_s)
                        status, detail = check.judge(target, exit_code, log)
                    for line in log.splitlines():
                        progress.line(line)
                except docker.errors.APIError as exc:
                    status, detail = checks.ERROR, exc.explanation or str(exc)
                    log = detail
                except (requests.ConnectionError, requests.Timeout):
                    raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)} during {target.id}; "
                                      "check it and run again") from None
            if status in (checks.FAIL, checks.ERROR) and node_notes.is_revision_skew_failure(f"{detail}\n{log}"):
                # 0xC0370106 from hcs::System::Start: the image's revision is newer than the host's (node_notes).
                detail = f"revision skew (0xC0370106: the image is newer than the host's patch level): {detail}"
            progress.end(f"{target.id} {check.name}", status, detail)
            record = results.Record.of(planned, check=check.name, status=status, started=started, image=image,
                                       image_digest=image_id, runner=options.runner, log=log, host=engine.facts,
                                       isolation=here.isolation if here else None)
            results.write(record, options.results_dir)
            records.append(record)
    return records
