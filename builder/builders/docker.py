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

from .. import checks, inputs, render, results
from ..binaries import WINDOWS_SOURCE, Binary, sha256_file
from ..engine import Engine, pull, redact_url
from ..engine_push import push_targets
from ..errors import BaseUnavailable, InputError, Unreachable
from ..inputs import Published
from ..matrix import Matrix
from ..plan import PlannedTarget
from ..progress import Progress
from ..registry import RegistryClient
from ..source import BuildContext, argo_source, prebuilt
from ..targets import Target
from . import BuildOptions, Outcome, image_labels, would_build

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
    return _repo_digest(image)


def _repo_digest(image: dict) -> str | None:
    """The registry digest of an engine's image (its first RepoDigests entry), if it came from a registry."""
    digests = image.get("RepoDigests") or []
    return digests[0].split("@", 1)[1] if digests else None


class DockerBuilder:
    name = "docker"
    done = "built {image} {digest}"

    def __init__(self, engine: Engine, matrix: Matrix, options: BuildOptions, progress: Progress,
                 client: RegistryClient | None = None):
        self.engine = engine
        self.client = client  # the run's registry client: a dry run reads what --to holds through it
        self.matrix = matrix
        self.options = options
        self.progress = progress
        self._contexts: dict = {}
        self._inputs: dict[str, inputs.Inputs] = {}
        self._bases: dict[str, str | None] = {}  # base reference -> its registry digest on the engine
        self._scratch = tempfile.TemporaryDirectory(prefix="argoexec-context-")
        self._dry_run = False  # a dry run: read what exists, pull and build nothing

    def build(self, plans: list[PlannedTarget], progress: Progress, *, dry_run: bool = False) -> list[Outcome]:
        """Build one target after another; the Argo source and prebuilt contexts are shared between them.
        ``dry_run``: say what would be built (a missing base is not pulled: its inputs are unknown)."""
        self.progress = progress
        if dry_run:
            self._dry_run = True
            try:
                return would_build(self, plans, self.options, self.client, progress)
            finally:
                self._dry_run = False
        try:
            return [self.build_one(planned, self._context(planned.target, Path(self._scratch.name)), progress)
                    for planned in plans]
        finally:
            self._scratch.cleanup()

    def _render(self, planned: PlannedTarget, context: BuildContext) -> render.Rendered:
        if planned.target.is_windows:
            return render.render_windows(self.matrix, planned, context.variant, context.go_version,
                                         sevenzip=context.sevenzip)
        return render.render_linux(planned.target.id, planned.base_image)

    def _base(self, planned: PlannedTarget, progress: Progress) -> str | None:
        """The base's digest: the locked one, else the registry digest of the engine's copy (pulled if missing;
        on a dry run a missing base is not pulled, and its digest is unknown)."""
        target = planned.target
        if target.is_windows:
            locked = self.matrix.locked_base(target.windows, "nanoserver")
            if locked is not None:
                return locked.digest
        if self._dry_run:
            try:
                return _repo_digest(self.engine.api.inspect_image(planned.base_image))
            except docker.errors.ImageNotFound:
                raise BaseUnavailable(f"{planned.base_image} is not on the engine (a build would pull it)") from None
        return self._pulled(planned.base_image, progress)

    def _pulled(self, reference: str, progress: Progress) -> str | None:
        """``_base_digest`` once per base in a run: the inputs and the labels of a target both need it."""
        if reference not in self._bases:
            self._bases[reference] = _base_digest(self.engine, reference, progress)
        return self._bases[reference]

    def inputs(self, planned: PlannedTarget) -> inputs.Inputs:
        """What this target's image is made from (see builder.inputs): the base, the binary, the Dockerfile."""
        target = planned.target
        if target.id not in self._inputs:
            context = self._context(target, Path(self._scratch.name))
            binary = self._binary(target)
            if binary is not None:
                copied = binary.input
            elif not target.is_windows:  # a Linux flavour: the prebuilt argoexec
                assert self.options.argoexec_exe is not None  # _context refused a Linux target without one
                copied = inputs.binary_input({"argoexec": self.options.argoexec_exe}, sha256_file)
            else:  # windows-source: compiled inside the image, from the commit
                copied = None
            self._inputs[target.id] = inputs.Inputs(
                base=self._base(planned, self.progress),
                commit=binary.commit if binary is not None else context.git_commit,
                binary=copied,
                recipe=inputs.sha256_text("docker\n" + self._render(planned, context).text),
                tool=inputs.tool_version())
        return self._inputs[target.id]

    def content(self, planned: PlannedTarget, found: Published, client, repo) -> str | None:
        """Whether the published image (whose inputs annotation matches) is what those inputs make: its layers are
        those its config describes, and, when this engine still has the image the inputs made (its local tag,
        the same inputs label), the config's layers are that image's (builder.inputs.check_content)."""
        expected = None
        try:
            local = self.engine.client.images.get(planned.target.tagged(self.options.repo))
        except Exception:  # noqa: BLE001 - no local image (or no engine answer): the registry's own consistency
            local = None
        if local is not None and ((local.attrs.get("Config") or {}).get("Labels") or {}).get(inputs.LABEL) \
                == self.inputs(planned).digest:
            expected = list((local.attrs.get("RootFS") or {}).get("Layers") or [])
        return inputs.published_layers(client, repo, found, expected)

    def _binary(self, target: Target) -> Binary | None:
        """The binary this target's image carries (None: compiled inside the image, windows-source)."""
        return self.options.binaries.get(target.argo.tag) if target.is_windows else None

    def _context(self, target: Target, scratch: Path) -> BuildContext:
        """The folder sent to the engine: the binary (and 7za.exe) alone, or the Argo tree for windows-source."""
        options = self.options
        key: tuple[str, ...]
        if not target.is_windows:
            if options.argoexec_exe is None:
                raise InputError(f"{target.id}: Linux targets build from a prebuilt binary; pass --argoexec-exe PATH")
            key = ("linux", str(options.argoexec_exe))
            files = {"argoexec": options.argoexec_exe}
        elif (binary := self._binary(target)) is not None:
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
            made_from = self.inputs(planned)
            base_digest = self._pulled(planned.base_image, progress)
            with tempfile.TemporaryDirectory(prefix="argoexec-builder-") as scratch:
                rendered = self._render(planned, context)
                dockerfile = Path(scratch) / rendered.filename
                dockerfile.write_text(rendered.text, encoding="utf-8")
                labels = {**image_labels(planned, context.source_url, context.git_commit, base_digest, started.at,
                                         self._binary(target)), **made_from.labels}
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
            why = "timed out" if isinstance(exc, requests.Timeout) else "connection lost"
            raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)} while building {target.id} "
                              f"({why}); check the engine and run again") from None
        log = progress.tail()
        progress.end(target.id, status, "" if status == checks.PASS else error.splitlines()[-1] if error else "")
        image, digest = tag, image_id
        if status == checks.PASS and self.options.to is not None:
            # --to: pushed as soon as it is built (a refusal stops the run: the next push would be refused too).
            (pushed,) = push_targets(engine, [target], str(self.options.to), self.options.repo, progress)
            image, digest = pushed.reference, pushed.digest
        # The image ID (its config digest) until the image is pushed; the registry digest once it is.
        binary = self._binary(target)
        record = results.Record.of(planned, check=checks.BUILD.name, status=status, started=started, image=image,
                                   image_digest=digest, runner=self.options.runner, log=log,
                                   host=engine.facts, isolation=planned.isolation,
                                   argoexec=binary.summary if binary else _in_image(target, context))
        results.write(record, self.options.results_dir)
        return Outcome(planned, image, digest, record)


def _in_image(target: Target, context: BuildContext) -> str | None:
    if context.variant == render.WINDOWS_SOURCE:
        return f"windows-source: compiled in the image from {target.argo.tag} {context.git_commit or ''}".strip()
    return None
