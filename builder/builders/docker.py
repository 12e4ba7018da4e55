"""The docker builder: render each target's Dockerfile and build it on a Docker engine (docker-py, streamed).

Windows targets are built with the isolation the plan chose for the engine's host; Linux targets
the same way with ``Dockerfile.linux.j2``. A failed target is a result, not a crash: it gets a
``build`` record with the log tail and the next target goes on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker.errors
import requests

from .. import checks, render, results
from ..binaries import WINDOWS_SOURCE, Binary
from ..engine import Engine, pull, redact_url
from ..errors import BaseUnavailable, InputError, Unreachable
from ..matrix import Matrix
from ..plan import PlannedTarget
from ..progress import Progress
from ..source import BuildContext, argo_source, prebuilt
from ..targets import Target
from . import BuildOptions, Outcome, image_labels

TARGET_STAGE = "argoexec"


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


class DockerBuilder:
    name = "docker"
    done = "built {image} {digest}"

    def __init__(self, engine: Engine, matrix: Matrix, options: BuildOptions):
        self.engine = engine
        self.matrix = matrix
        self.options = options
        self._contexts: dict = {}

    def build(self, plans: list[PlannedTarget], progress: Progress) -> list[Outcome]:
        """Build one target after another; the Argo source and prebuilt contexts are shared between them."""
        with tempfile.TemporaryDirectory(prefix="argoexec-context-") as scratch:
            return [self.build_one(planned, self._context(planned.target, Path(scratch)), progress)
                    for planned in plans]

    def _binary(self, target: Target) -> Binary | None:
        """The binary this target's image carries (None: compiled inside the image, windows-source)."""
        return self.options.binaries.get(target.argo.tag) if target.is_windows else None

    def _context(self, target: Target, scratch: Path) -> BuildContext:
        """The folder sent to the engine: the binary (and 7za.exe) alone, or the Argo tree for windows-source."""
        options = self.options
        if not target.is_windows:
            if options.argoexec_exe is None:
                raise InputError(f"{target.id}: Linux targets build from a prebuilt binary; pass --argoexec-exe PATH")
            key = ("linux", str(options.argoexec_exe))
            files = {"argoexec": options.argoexec_exe}
        elif self._binary(target) is not None:
            binary = self._binary(target)
            key = ("windows", binary.sha256, str(binary.sevenzip))
            files = binary.files()
        elif options.binary == WINDOWS_SOURCE:
            key = ("source", target.argo.tag)
            if key not in self._contexts:
                self._contexts[key] = argo_source(target.argo.tag, options.argo_git)
            return self._contexts[key]
        else:
            raise InputError(f"{target.id}: no argoexec.exe for {target.argo.tag} (internal: binaries not resolved)")
        if key not in self._contexts:
            self._contexts[key] = prebuilt(scratch / f"context-{len(self._contexts)}", files)
        return self._contexts[key]

    def build_one(self, planned: PlannedTarget, context: BuildContext, progress: Progress) -> Outcome:
        engine, target = self.engine, planned.target
        tag = target.tagged(self.options.repo)
        started = results.Started()
        progress.begin(f"build {target.id} ({planned.build}{', ' + planned.isolation if planned.isolation else ''})")
        status, image_id, error = checks.FAIL, None, ""
        try:
            base_digest = _base_digest(engine, planned.base_image, progress)
            with tempfile.TemporaryDirectory(prefix="argoexec-builder-") as scratch:
                if target.is_windows:
                    rendered = render.render_windows(self.matrix, planned, context.variant, context.go_version,
                                                     sevenzip=context.sevenzip)
                else:
                    rendered = render.render_linux(target.id, planned.base_image)
                dockerfile = Path(scratch) / rendered.filename
                dockerfile.write_text(rendered.text, encoding="utf-8")
                labels = image_labels(planned, context.source_url, context.git_commit, base_digest, started.at,
                                      self._binary(target))
                request = build_request(planned, context, dockerfile, tag, labels, self.options.network_mode)
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
                status = checks.PASS
        except BaseUnavailable as exc:
            error = str(exc)
            progress.line(error)
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
        progress.end(target.id, status, "" if status == checks.PASS else error.splitlines()[-1] if error else "")
        # The image ID (its config digest) until the image is pushed; a registry digest comes with the push.
        binary = self._binary(target)
        record = results.Record.of(planned, check=checks.BUILD.name, status=status, started=started, image=tag,
                                   image_digest=image_id, runner=self.options.runner, log=log,
                                   host=engine.facts, isolation=planned.isolation,
                                   argoexec=binary.summary if binary else _in_image(target, context))
        results.write(record, self.options.results_dir)
        return Outcome(planned, tag, image_id, record)


def _in_image(target: Target, context: BuildContext) -> str | None:
    if context.variant == render.WINDOWS_SOURCE:
        return f"windows-source: compiled in the image from {target.argo.tag} {context.git_commit or ''}".strip()
    return None
