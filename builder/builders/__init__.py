"""Builders: the ways an argoexec image gets made, behind one interface.

The planner decides which builder serves each target (``PlannedTarget.builder``); the pipeline
hands every builder its share of the plan, in plan order. A builder turns planned targets into
``Outcome``s and writes one ``build`` record per target; a failed target is a result, not a crash.

- ``docker``: renders the target's Dockerfile and builds it on a Docker engine (``builders.docker``);
- ``oci``: assembles Windows images from registries with no engine at all (``builders.oci``).

Both implement ``Builder``: ``name``, ``done``, ``inputs``, ``content`` and
``build(plans, progress, *, dry_run)``. A third builder is one module with a class that implements it,
and one line in ``make_builders``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .. import checks, inputs, results
from ..binaries import COMPILED, WINDOWS_SOURCE, Binary
from ..cache import cache_root
from ..inputs import Published
from ..matrix import Matrix
from ..plan import BUILDER_DOCKER, BUILDER_OCI, PlannedTarget
from ..progress import Progress
from ..reference import Reference
from ..registry import RegistryClient
from ..secrets import strip_userinfo
from ..source import ARGO_GIT

if TYPE_CHECKING:  # the engine module imports the Docker SDK: only the docker builder needs it at run time
    from ..engine import Engine

DEFAULT_LAYOUT = Path("dist/oci")


@dataclass(frozen=True)
class BuildOptions:
    """What the user asked of a build run (made once by ``options.build_run``, never changed after: the
    binaries made for the run are a new value, ``dataclasses.replace``); each builder reads the part it needs."""

    repo: str  # docker: the local repository images are tagged in, as <repo>:<target-id>
    results_dir: Path = results.DEFAULT_DIR
    runner: str = "local"
    binary: str = COMPILED  # binaries.CHOICES: where argoexec.exe comes from
    binaries: dict[str, Binary] = field(default_factory=dict)  # Windows: the binary of each Argo version
    argoexec_exe: Path | None = None  # Linux targets: the prebuilt argoexec
    argo_git: str = ARGO_GIT
    network_mode: str | None = None  # docker: for the build containers
    to: Reference | None = None  # oci: push to this repository (no tag) ...
    out: Path = DEFAULT_LAYOUT  # ... else write this OCI image layout
    work: Path = field(default_factory=lambda: cache_root() / "layers")  # oci: the layer cache
    force: bool = False  # with ``to``: build every target, even those published with the same inputs


@dataclass
class Outcome:
    planned: PlannedTarget
    image: str  # where the image is: a local tag, a registry reference or an OCI layout
    digest: str | None
    record: results.Record

    @property
    def ok(self) -> bool:
        return self.record.status == checks.PASS


class Builder(Protocol):
    """What the pipeline asks of a builder (``DockerBuilder``, ``OciBuilder``)."""

    name: str  # the value of PlannedTarget.builder (and --builder) that selects it
    done: str  # the line printed for a finished target, with {image} and {digest}

    def inputs(self, planned: PlannedTarget) -> inputs.Inputs:
        """What the target's image is made from (``build --to`` skips it when the published one says the same)."""

    def content(self, planned: PlannedTarget, found: Published, client: RegistryClient,
                repo: Reference) -> str | None:
        """Why the published image is not what its inputs make (None when it is): ``inputs.check_content``."""

    def build(self, plans: list[PlannedTarget], progress: Progress, *, dry_run: bool = False) -> list[Outcome]:
        """Build each planned target, recording each; the next target goes on after a failure. ``dry_run``:
        say what would be built (with ``to``: and what skipped), read what exists, make and write nothing."""


def would_build(builder: Builder, plans: list[PlannedTarget], options: BuildOptions,
                client: RegistryClient | None, progress: Progress) -> list[Outcome]:
    """A dry run of ``builder``: what it would do with each target, build it (and how) or, with ``options.to``,
    skip it as unchanged. The inputs are known once every Windows target's argoexec.exe exists. No outcome."""
    def how(planned: PlannedTarget) -> str:
        where = f", {planned.isolation} isolation" if planned.isolation and builder.name == BUILDER_DOCKER else ""
        return f"{builder.name} builder{where}"

    known = options.binary != WINDOWS_SOURCE and all(
        p.target.argo.tag in options.binaries for p in plans if p.target.is_windows)
    if options.to is None or not known:
        for planned in plans:
            reason = "" if options.to is None else "; its inputs are known once argoexec.exe exists"
            progress.say(f"would build {planned.target.id} ({how(planned)}){reason}")
        return []
    if client is None:  # a builder given --to has the run's registry client
        raise ValueError("would_build: --to without a registry client")
    for planned in inputs.split(plans, builder.inputs, client, options.to, options.force, progress, dry_run=True,
                                content_of=builder.content):
        progress.say(f"  ({how(planned)}, pushed to {options.to}:{planned.target.id})")
    return []


def make_builders(loaded: Matrix, connected: Engine | None, options: BuildOptions, client: RegistryClient,
                  plans: list[PlannedTarget], progress: Progress) -> list[Builder]:
    """The builders this run needs (each a ``builders.Builder``), in the order they run (the engine's first)."""
    from .docker import DockerBuilder
    from .oci import OciBuilder

    needed = {p.builder for p in plans}
    builders: list[Builder] = []
    if BUILDER_DOCKER in needed:
        assert connected is not None, "plan.plan_build routes a target to docker only with an engine's facts"
        builders.append(DockerBuilder(connected, loaded, options, progress, client))
    if BUILDER_OCI in needed:
        builders.append(OciBuilder(loaded, client, options, progress))
    return builders


def image_labels(planned: PlannedTarget, source_url: str, revision: str | None, base_digest: str | None,
                 created: str, binary: Binary | None = None) -> dict[str, str]:
    """The OCI annotations every builder puts on an image (the same keys, whoever built it)."""
    target = planned.target
    labels = {
        "org.opencontainers.image.title": "argoexec",
        "org.opencontainers.image.version": target.argo.tag,
        "org.opencontainers.image.source": strip_userinfo(source_url),
        "org.opencontainers.image.created": created,
        # The tag's name (the digest is base.digest), also when the plan pins the base by digest.
        "org.opencontainers.image.base.name": planned.base_tag or planned.base_image,
        "io.argoexec-builder.target": target.id,
    }
    revision = revision or (binary.commit if binary is not None else None)
    if revision:
        labels["org.opencontainers.image.revision"] = revision
    if base_digest:
        labels["org.opencontainers.image.base.digest"] = base_digest
    if target.is_windows:
        labels["io.argoexec-builder.os.version"] = target.windows.build.base
    if binary is not None:
        labels.update(binary.labels)
    return labels
