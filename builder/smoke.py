"""Smoke tests of built images: each check of ``checks.smoke_checks(target)`` in a container.

Each check runs in a fresh container with the isolation the plan chose for this engine's host,
has a timeout, and its container is always removed. Where the host cannot run the image, the
check is recorded as ``not-runnable`` with the rule that forbids it, and not attempted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import requests

from . import checks, results
from .checks import Check
from .engine import Engine, pull, redact_url
from .errors import Unreachable
from .plan import DEFAULT_ISOLATION, PlannedTarget
from .progress import Progress
from .registry import Reference

DEFAULT_TIMEOUT_S = 120


@dataclass
class SmokeOptions:
    repo: str  # the repository holding the images, as <repo>:<target-id>
    results_dir: Path = results.DEFAULT_DIR
    runner: str = "local"
    network_mode: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def run_check(engine: Engine, image: str, check: Check, command: list[str], isolation: str | None,
              network_mode: str | None, timeout_s: float) -> tuple[int | None, str]:
    """Run one container to completion (or the timeout); always remove it."""
    options = {"command": command, "detach": True}
    if check.entrypoint is not None:
        options["entrypoint"] = list(check.entrypoint)
    if isolation and isolation != DEFAULT_ISOLATION:
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
            else:
                try:
                    exit_code, log = run_check(engine, image, check, check.command(target), here.isolation,
                                               options.network_mode, options.timeout_s)
                    for line in log.splitlines():
                        progress.line(line)
                    status, detail = check.judge(target, exit_code, log)
                except docker.errors.APIError as exc:
                    status, detail = checks.ERROR, exc.explanation or str(exc)
                    log = detail
                except (requests.ConnectionError, requests.Timeout):
                    raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)} during {target.id}; "
                                      "check it and run again") from None
            progress.end(f"{target.id} {check.name}", status, detail)
            record = results.Record.of(planned, check=check.name, status=status, started=started, image=image,
                                       image_digest=image_id, runner=options.runner, log=log, host=engine.facts,
                                       isolation=here.isolation if here else None)
            results.write(record, options.results_dir)
            records.append(record)
    return records
