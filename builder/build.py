"""Build: render each target's Dockerfile and build it on a Docker engine (docker-py, streamed).

Windows targets are built with the isolation the plan chose for the engine's host (``compat``);
Linux targets the same way with ``Dockerfile.linux.j2``. A failed target is a result, not a
crash: it gets a ``build`` record with the log tail and the next target goes on.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import requests

from . import compat, render, results
from .engine import Engine, pull, redact_url
from .errors import InputError, Unreachable
from .matrix import Matrix
from .plan import PlannedTarget, plan_target
from .progress import Progress
from .secrets import strip_userinfo
from .source import ARGO_GIT, BuildContext, argo_source, prebuilt
from .targets import Target

TARGET_STAGE = "argoexec"


@dataclass
class BuildOptions:
    repo: str
    results_dir: Path = results.DEFAULT_DIR
    runner: str = "local"
    argoexec_exe: Path | None = None
    sevenzip_exe: Path | None = None
    argo_git: str = ARGO_GIT
    network_mode: str | None = None
    host_isolation: tuple[str, ...] = compat.ISOLATIONS


@dataclass
class BuildOutcome:
    planned: PlannedTarget
    image: str
    record: results.Record
    record_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.record.status == results.PASS


def image_ref(repo: str, target: Target) -> str:
    return f"{repo}:{target.id}"


def plan_on_engine(matrix: Matrix, targets: list[Target], engine: Engine,
                   offered: tuple[str, ...] = compat.ISOLATIONS) -> list[PlannedTarget]:
    """Decide how each target builds on this engine, refusing (exit 2) before anything is built."""
    planned = []
    where = redact_url(engine.url)
    for target in targets:
        if target.is_windows:
            if not engine.facts.is_windows:
                raise InputError(
                    f"{target.id}: the engine at {where} is a {engine.facts.os_type} engine and cannot build "
                    "Windows images; point --engine (or DOCKER_HOST) at a Windows host that runs "
                    f"{target.release.build.base} images")
            if engine.facts.build is None:
                raise InputError(f"{target.id}: the Windows engine at {where} did not report its OS build in /info")
            entry = plan_target(matrix, target, engine.facts.build, offered)
            if entry.build == compat.BUILD_NONE:
                raise InputError(
                    f"{target.id}: cannot build on this {engine.facts.build.base} host: {entry.reason}; build it on "
                    f"a {target.release.build.base} host (process isolation) or a newer host with Hyper-V")
        else:
            if engine.facts.is_windows:
                raise InputError(f"{target.id}: the engine at {where} is a Windows engine; Linux targets need a "
                                 "Linux engine")
            entry = plan_target(matrix, target)
        planned.append(entry)
    return planned


def oci_labels(planned: PlannedTarget, context: BuildContext, base_digest: str | None,
               created: str) -> dict[str, str]:
    target = planned.target
    labels = {
        "org.opencontainers.image.title": "argoexec",
        "org.opencontainers.image.version": target.argo.tag,
        "org.opencontainers.image.source": strip_userinfo(context.source_url),
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.base.name": planned.base_image,
        "io.argoexec-builder.target": target.id,
    }
    if context.git_commit:
        labels["org.opencontainers.image.revision"] = context.git_commit
    if base_digest:
        labels["org.opencontainers.image.base.digest"] = base_digest
    if target.is_windows:
        labels["io.argoexec-builder.os.version"] = target.release.build.base
    return labels


def build_request(planned: PlannedTarget, context: BuildContext, dockerfile: Path, tag: str,
                  labels: dict[str, str], network_mode: str | None) -> dict:
    """The keyword arguments of ``APIClient.build`` for one target (the isolation the plan chose)."""
    request = {
        "path": str(context.path),
        "dockerfile": str(dockerfile),
        "tag": tag,
        "target": TARGET_STAGE,
        "buildargs": context.build_args,
        "labels": labels,
        "rm": True,
        "forcerm": True,
        "decode": True,
        "pull": False,
    }
    if planned.isolation:
        request["isolation"] = planned.isolation
    if not planned.target.is_windows:
        request["platform"] = planned.target.platform
    if network_mode:
        request["network_mode"] = network_mode
    return request


def _base_digest(engine: Engine, reference: str, progress: Progress) -> str | None:
    """Make sure the base is on the engine (pulling it if not) and return its registry digest, if any."""
    try:
        image = engine.api.inspect_image(reference)
    except docker.errors.ImageNotFound:
        error = pull(engine, reference, progress)
        if error:
            raise BaseUnavailable(f"cannot pull base {reference}: {error}") from None
        try:
            image = engine.api.inspect_image(reference)
        except docker.errors.APIError as exc:
            raise BaseUnavailable(f"cannot pull base {reference}: {exc.explanation or exc}") from None
    digests = image.get("RepoDigests") or []
    return digests[0].split("@", 1)[1] if digests else None


class BaseUnavailable(Exception):
    pass


def _context(target: Target, options: BuildOptions, cache: dict, scratch: Path) -> BuildContext:
    if options.argoexec_exe is not None:
        key = ("prebuilt", target.is_windows)
        if key not in cache:
            cache[key] = prebuilt(scratch / f"prebuilt-{target.os}", options.argoexec_exe, target.is_windows,
                                  options.sevenzip_exe)
        return cache[key]
    if not target.is_windows:
        raise InputError(f"{target.id}: Linux targets build from a prebuilt binary; pass --argoexec-exe PATH")
    key = ("source", target.argo.tag)
    if key not in cache:
        cache[key] = argo_source(target.argo.tag, options.argo_git)
    return cache[key]


def _record(planned: PlannedTarget, engine: Engine, options: BuildOptions, image: str, image_digest: str | None,
            check: str, status: str, started: float, started_at: str, log: str,
            isolation: str | None = None) -> results.Record:
    target = planned.target
    return results.Record(
        target=target.id, argo=target.argo.tag, os=target.os, base=target.base,
        image_os_version=target.release.build.base if target.is_windows else None,
        image=image, image_digest=image_digest,
        host_os_version=str(engine.facts.build) if engine.facts.build else None,
        runner=options.runner, engine_version=engine.facts.engine_version,
        isolation=isolation if isolation is not None else planned.isolation,
        check=check, status=status, started_at=started_at, duration_s=time.monotonic() - started,
        log_excerpt=log)


def build_one(engine: Engine, matrix: Matrix, planned: PlannedTarget, context: BuildContext,
              options: BuildOptions, progress: Progress) -> BuildOutcome:
    target = planned.target
    tag = image_ref(options.repo, target)
    started, started_at = time.monotonic(), results.rfc3339(results.now())
    progress.begin(f"build {target.id} ({planned.build}{', ' + planned.isolation if planned.isolation else ''})")
    status, image_id, error = results.FAIL, None, ""
    try:
        base_digest = _base_digest(engine, planned.base_image, progress)
        with tempfile.TemporaryDirectory(prefix="argoexec-builder-") as scratch:
            if target.is_windows:
                rendered = render.render_windows(matrix, planned, context.binary, context.go_version)
            else:
                rendered = render.render_linux(target.id, planned.base_image)
            dockerfile = Path(scratch) / rendered.filename
            dockerfile.write_text(rendered.text, encoding="utf-8")
            request = build_request(planned, context, dockerfile, tag,
                                    oci_labels(planned, context, base_digest, started_at), options.network_mode)
            for event in engine.api.build(**request):
                if "stream" in event:
                    for text in event["stream"].splitlines():
                        progress.line(text)
                if "error" in event:
                    error = event["error"].strip()
                    progress.line(error)
                if "aux" in event and "ID" in event["aux"]:
                    image_id = event["aux"]["ID"]
        if not error:
            image_id = image_id or engine.api.inspect_image(tag)["Id"]
            status = results.PASS
    except BaseUnavailable as exc:
        error = str(exc)
        progress.line(error)
    except docker.errors.BuildError as exc:  # pragma: no cover - the streamed API reports errors as events
        error = str(exc)
    except docker.errors.APIError as exc:
        error = exc.explanation or str(exc)
        progress.line(error)
    except ValueError as exc:  # an answer that is not the engine's JSON stream
        error = f"unreadable answer from the engine: {exc}"
        progress.line(error)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)} while building {target.id} "
                          f"({exc.__class__.__name__}); check the engine and run again") from None
    log = progress.tail()
    progress.end(target.id, status, "" if status == results.PASS else error.splitlines()[-1] if error else "")
    record = _record(planned, engine, options, tag, image_id, results.CHECK_BUILD, status, started, started_at, log)
    path = results.write(record, options.results_dir)
    return BuildOutcome(planned, tag, record, path)


def build_targets(engine: Engine, matrix: Matrix, targets: list[Target], options: BuildOptions,
                  progress: Progress) -> list[BuildOutcome]:
    """Build one target after another; the Argo source and prebuilt contexts are shared between them."""
    planned = plan_on_engine(matrix, targets, engine, options.host_isolation)
    outcomes = []
    cache: dict = {}
    with tempfile.TemporaryDirectory(prefix="argoexec-context-") as scratch:
        for entry in planned:
            context = _context(entry.target, options, cache, Path(scratch))
            outcomes.append(build_one(engine, matrix, entry, context, options, progress))
    return outcomes


DOCKER, OCI, AUTO = "docker", "oci", "auto"
BUILDERS = (AUTO, DOCKER, OCI)


def choose_builders(matrix: Matrix, targets: list[Target], engine: Engine | None, builder: str,
                    offered: tuple[str, ...] = compat.ISOLATIONS) -> tuple[list[Target], list[Target]]:
    """Split targets into (docker, oci). ``auto``: docker where the engine is Windows and its host can
    build the base natively (Linux targets: a Linux engine), the daemonless oci builder for the rest."""
    if builder not in BUILDERS:
        raise InputError(f"--builder {builder}: expected one of: {', '.join(BUILDERS)}")
    if builder == OCI:
        return [], list(targets)
    if builder == DOCKER:
        return list(targets), []
    docker_targets, oci_targets = [], []
    for target in targets:
        if target.is_windows:
            native = (engine is not None and engine.facts.is_windows and engine.facts.build is not None
                      and plan_target(matrix, target, engine.facts.build, offered).build != compat.BUILD_NONE)
            (docker_targets if native else oci_targets).append(target)
        elif engine is not None and not engine.facts.is_windows:
            docker_targets.append(target)
        else:
            raise InputError(f"{target.id}: a Linux target needs a Linux Docker engine; none is reachable "
                             "(pass --engine URL)")
    return docker_targets, oci_targets
