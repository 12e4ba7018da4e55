"""Builders: the ways an argoexec image gets made, behind one interface.

The planner decides which builder serves each target (``PlannedTarget.builder``); the pipeline
hands every builder its share of the plan, in plan order. A builder turns planned targets into
``Outcome``s and writes one ``build`` record per target; a failed target is a result, not a crash.

- ``docker``: renders the target's Dockerfile and builds it on a Docker engine (``builders.docker``);
- ``oci``: assembles Windows images from registries with no engine at all (``builders.oci``).

A third builder is one module with a class that has ``name`` and ``build(plans, progress)``, and
one line in ``pipeline.make_builders``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .. import checks, results
from ..binaries import COMPILED, Binary
from ..plan import PlannedTarget
from ..progress import Progress
from ..registry import Reference
from ..secrets import strip_userinfo
from ..source import ARGO_GIT, cache_dir

DEFAULT_LAYOUT = Path("dist/oci")


@dataclass
class BuildOptions:
    """What the user asked of a build run; each builder reads the part it needs."""

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
    work: Path = field(default_factory=lambda: cache_dir() / "layers")  # oci: the layer cache


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
    name: str  # the value of PlannedTarget.builder (and --builder) that selects it
    done: str  # the line printed for a finished target, with {image} and {digest}

    def build(self, plans: list[PlannedTarget], progress: Progress) -> list[Outcome]:
        """Build each planned target, recording each; the next target goes on after a failure."""


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
