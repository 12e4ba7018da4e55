"""Smoke tests of built images: ``argoexec version`` and hello-windows (hello-linux for Linux).

Each check runs in a fresh container with the isolation ``compat`` chooses for this host, has a
timeout, and its container is always removed. Where the host cannot run the image, the check is
recorded as ``not-runnable`` with the rule that forbids it, and not attempted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import docker.errors
import requests

from . import compat, results
from .build import BuildOptions, _record, image_ref
from .engine import Engine, pull, redact_url
from .errors import Unreachable
from .matrix import Matrix
from .plan import PlannedTarget, plan_target
from .progress import Progress
from .registry import Reference
from .targets import Target

HELLO_WINDOWS = "Hello from Windows Container!"
HELLO_LINUX = "Hello from Linux Container!"
DEFAULT_TIMEOUT_S = 120
_VERSION_LINE_RE = re.compile(r"^argoexec: (\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Check:
    name: str
    entrypoint: list[str] | None
    command: list[str]


def checks_for(target: Target) -> list[Check]:
    if target.is_windows:
        hello = Check(results.CHECK_HELLO_WINDOWS, ["cmd", "/c"], ["echo", HELLO_WINDOWS])
    else:
        hello = Check(results.CHECK_HELLO_LINUX, ["sh", "-c"], [f"echo {HELLO_LINUX}"])
    return [Check(results.CHECK_VERSION, None, ["version"]), hello]


def judge(check: Check, target: Target, exit_code: int | None, output: str) -> tuple[str, str]:
    """(status, why) of one check from the container's exit code and output."""
    if exit_code is None:
        return results.ERROR, "timed out"
    if exit_code != 0:
        return results.FAIL, f"exit code {exit_code}"
    if check.name == results.CHECK_VERSION:
        match = _VERSION_LINE_RE.search(output)
        if not match:
            return results.FAIL, "no `argoexec: <version>` line"
        version = match.group(1)
        if version != target.argo.tag and not version.startswith(target.argo.tag + "+"):
            return results.FAIL, f"reports version {version}, built from {target.argo.tag}"
        if f"Platform: {target.platform}" not in output:
            return results.FAIL, f"does not report Platform: {target.platform}"
        return results.PASS, ""
    expected = HELLO_WINDOWS if target.is_windows else HELLO_LINUX
    if expected not in output:
        return results.FAIL, f"output lacks {expected!r}"
    return results.PASS, ""


def placement(engine: Engine, planned: PlannedTarget, offered: tuple[str, ...]) -> compat.Placement:
    """With which isolation this host runs the image (Linux images: the engine default)."""
    target = planned.target
    if not target.is_windows:
        if engine.facts.is_windows:
            return compat.Placement(None, "a Windows engine does not run Linux images")
        return compat.Placement("default", "a Linux engine runs Linux images")
    if not engine.facts.is_windows or engine.facts.build is None:
        return compat.Placement(None, f"a {engine.facts.os_type} engine cannot run Windows images")
    return compat.choose_isolation(engine.facts.build, target.release.build, offered)


def run_check(engine: Engine, image: str, check: Check, isolation: str | None, network_mode: str | None,
              timeout_s: float) -> tuple[int | None, str]:
    """Run one container to completion (or the timeout); always remove it."""
    options = {"command": check.command, "detach": True}
    if check.entrypoint is not None:
        options["entrypoint"] = check.entrypoint
    if isolation and isolation != "default":
        options["isolation"] = isolation
    if network_mode:
        options["network_mode"] = network_mode
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


def _remove(container) -> None:
    """Remove a check's container; a refusal (HCS can be slow to let go) is retried, and never
    changes the check's result."""
    for attempt in range(3):
        try:
            container.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            time.sleep(1 + attempt)
    try:
        container.remove(force=True)
    except docker.errors.APIError as exc:
        print(f"warning: could not remove container {container.id[:12]}: {exc.explanation or exc}")


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


def smoke_targets(engine: Engine, matrix: Matrix, targets: list[Target], options: BuildOptions,
                  progress: Progress, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[results.Record]:
    records = []
    for target in targets:
        planned = plan_target(matrix, target)
        image = image_ref(options.repo, target)
        where = placement(engine, planned, options.host_isolation)
        try:
            image_id = _image_for_check(engine, image, progress) if where.ok else None
        except (requests.ConnectionError, requests.Timeout):
            raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)}; check it and run again") from None
        for check in checks_for(target):
            started, started_at = time.monotonic(), results.rfc3339(results.now())
            progress.begin(f"smoke {target.id}: {check.name}")
            if not where.ok:
                status, detail, log = results.NOT_RUNNABLE, where.reason, where.reason
            elif image_id is None:
                status, detail = results.ERROR, f"{image} is not on this engine nor pullable; run `invoke build` first"
                log = detail
            else:
                try:
                    exit_code, log = run_check(engine, image, check, where.isolation, options.network_mode, timeout_s)
                    for line in log.splitlines():
                        progress.line(line)
                    status, detail = judge(check, target, exit_code, log)
                except docker.errors.APIError as exc:
                    status, detail = results.ERROR, exc.explanation or str(exc)
                    log = detail
                except (requests.ConnectionError, requests.Timeout):
                    raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)} during {target.id}; "
                                      "check it and run again") from None
            progress.end(f"{target.id} {check.name}", status, detail)
            record = _record(planned, engine, options, image, image_id, check.name, status, started, started_at,
                             log, isolation=where.isolation)
            results.write(record, options.results_dir)
            records.append(record)
    return records
