"""The inputs of an image, and the incremental build: a target whose published image was made from the
same inputs is not built again.

An image's inputs are everything that decides its bytes:

- ``base``: the digest of its base image (the locked digest of matrix.lock.json when there is one);
- ``commit``: the Argo commit its argoexec.exe was compiled from;
- ``binary``: the sha256 of each file copied into it (argoexec.exe, 7za.exe);
- ``recipe``: how it is made: the sha256 of the rendered Dockerfile (docker builder) or of the
  assembly recipe (oci builder: the servercore digest netapi32.dll comes from, the app files);
- ``tool``: this tool's version and a hash of its modules that shape images, so that a change to
  the assembly code rebuilds what it made.

Every image carries them: the label ``io.argoexec-builder.inputs`` is the sha256 of their
canonical JSON and ``io.argoexec-builder.inputs.json`` that JSON, so that a rebuild can say which
input changed. The oci builder also writes both as annotations of the image manifest (OCI image
spec, manifest.md "annotations"), where one manifest GET finds them; an image whose manifest has
none (the engine's push, Docker-typed manifests) is read through its config, a second request.

The annotation is a claim, not proof: anyone who can push can re-push a tag with a swapped layer and
the same annotations. So a skip stands only when the content checks out too (``check_content``, a
builder's ``content`` function): the oci builder assembles the image without uploading it and skips
only when its manifest digest is the registry's; the docker builder checks that the published
manifest's layers are those its config describes (each layer it can fetch, decompressed, has its
``rootfs.diff_ids`` entry: image-spec config.md) and, when the engine still has the image those inputs
made, that the config's layers are that image's. A published tag whose content does not match its own
annotation is rebuilt, with a line that says so.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import BuilderError, RegistryDenied, RegistryError, Unreachable
from .progress import Progress
from .registry import DOCKER_FOREIGN_LAYER, Reference, RegistryClient, image_config, image_manifest

LABEL = "io.argoexec-builder.inputs"
LABEL_JSON = "io.argoexec-builder.inputs.json"
# The modules whose code decides an image's bytes or labels (the templates are in the docker recipe, as the
# rendered Dockerfile).
SHAPING_MODULES = ("oci/blob.py", "oci/remote.py", "oci/layer.py", "oci/assembly.py", "oci/write.py", "pgzip.py",
                   "render.py", "builders/__init__.py", "builders/oci.py", "builders/docker.py", "binaries.py",
                   "inputs.py")
PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def _shaping_hash() -> str:
    digest = hashlib.sha256()
    for name in SHAPING_MODULES:
        digest.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def tool_version() -> str:
    """``<version>+<hash of the image-shaping modules>``: what the ``tool`` input holds."""
    from . import __version__ as version  # read at call time, so that a test can stand in another version

    return f"{version}+{_shaping_hash()}"


def sha256_text(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Inputs:
    base: str | None
    commit: str | None
    binary: str | None
    recipe: str
    tool: str

    def canonical(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        return sha256_text(self.canonical())

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self.digest, LABEL_JSON: self.canonical()}

    def changes(self, labels: dict[str, str]) -> list[str]:
        """Which inputs differ from those an image's labels record (all of them, said once, when it has none)."""
        try:
            before = json.loads(labels.get(LABEL_JSON) or "null")
        except (ValueError, RecursionError):
            before = None
        if not isinstance(before, dict):
            return ["it carries no inputs label (made before incremental builds, or by hand)"]
        names = {"base": "base image digest", "commit": "Argo commit", "binary": "argoexec binary",
                 "recipe": "Dockerfile or assembly recipe", "tool": "tool version"}
        return [f"{names[key]} {_short(before.get(key))} -> {_short(value)}"
                for key, value in asdict(self).items() if before.get(key) != value]


def _short(value: object) -> str:
    if not isinstance(value, str):
        return "none"
    return value[:19] if value.startswith("sha256:") else value[:24]


def binary_input(files: dict[str, Path], sha256_of) -> str:
    """The ``binary`` input: each file's name and sha256, in name order."""
    return ",".join(f"{name}=sha256:{sha256_of(path)}" for name, path in sorted(files.items()))


# ---------------------------------------------------------------------------------------------
# Published images


@dataclass(frozen=True)
class Published:
    """What the repository holds under a target's tag: its digest and the inputs labels it carries."""

    reference: str
    digest: str
    labels: dict[str, str]

    @property
    def inputs(self) -> str | None:
        return self.labels.get(LABEL)


def published(client: RegistryClient, repo: Reference, tag: str) -> Published | None:
    """The image at ``repo:tag`` and its inputs labels (manifest annotations, else the config's labels);
    None when the tag does not exist. One request, two when the labels are only in the config."""
    reference = repo.with_tag(tag)
    found = client.find_manifest(reference)
    if found is None:
        return None
    body, media_type, digest = found
    try:
        manifest = image_manifest(body, f"{reference}: the manifest")
    except RegistryError:
        return Published(str(reference), digest, {})  # an index or something else: nothing to compare
    annotations = manifest.get("annotations") or {}
    if isinstance(annotations, dict) and LABEL in annotations:
        return Published(str(reference), digest, {k: v for k, v in annotations.items() if isinstance(v, str)})
    config_digest = manifest["config"]["digest"]
    config = image_config(client.get_blob(repo.registry, repo.repository, config_digest),
                          f"{reference}: the config {config_digest[:19]}")
    labels = (config.get("config") or {}).get("Labels") or {}
    return Published(str(reference), digest, {k: v for k, v in labels.items() if isinstance(v, str)})


@dataclass(frozen=True)
class Decision:
    build: bool
    reason: str
    published: Published | None = None


def decide(inputs: Inputs, found: Published | None, force: bool = False) -> Decision:
    """Build or skip, and why in one line."""
    if force:
        return Decision(True, "--force", found)
    if found is None:
        return Decision(True, "not published yet", None)
    if found.inputs == inputs.digest:
        return Decision(False, f"unchanged: {found.reference}@{found.digest[:19]} has inputs {inputs.digest[:19]}",
                        found)
    return Decision(True, "; ".join(inputs.changes(found.labels)), found)


# What a builder says of a published image whose inputs annotation matches: None when its content is what
# those inputs make, else why not (one phrase). Given (the plan, what is published, the client, the repository).
ContentCheck = Callable[..., "str | None"]


def check_content(decision: Decision, planned, content_of: ContentCheck, client: RegistryClient,
                  repo: Reference) -> Decision:
    """A skip stands only when the published content is what the inputs make; otherwise a rebuild that says why.
    A check that cannot be made (a registry error) rebuilds too, saying so; no registry at all stops the run."""
    found = decision.published
    if decision.build or found is None:
        return decision
    try:
        why = content_of(planned, found, client, repo)
    except (Unreachable, RegistryDenied):
        raise
    except BuilderError as exc:
        why = f"its content cannot be checked ({exc})"
    if why is None:
        return decision
    return Decision(True, f"{found.reference}@{found.digest[:19]} does not match its own inputs annotation: {why}",
                    found)


# Layer media types whose blob is the tar itself, and those that are gzip (image-spec media-types.md; Docker's
# manifest v2 schema 2).
_TAR_TYPES = ("application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar")
_GZIP_TYPES = ("application/vnd.oci.image.layer.v1.tar+gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "application/vnd.docker.image.rootfs.diff.tar.gzip", DOCKER_FOREIGN_LAYER)


def _diff_id(data: bytes, media_type: str) -> str | None:
    """The sha256 of a layer's uncompressed tar (its diff_id), or None for a compression not read here."""
    if media_type in _TAR_TYPES:
        return sha256_text(data)
    if media_type not in _GZIP_TYPES:
        return None
    digest = hashlib.sha256()
    unzip = zlib.decompressobj(wbits=31)
    for start in range(0, len(data), 1 << 20):
        digest.update(unzip.decompress(data[start:start + (1 << 20)]))
    digest.update(unzip.flush())
    return "sha256:" + digest.hexdigest()


def published_layers(client: RegistryClient, repo: Reference, found: Published,
                     expected_diff_ids: list[str] | None = None) -> str | None:
    """Why the published image's layers are not those its config describes (or, with ``expected_diff_ids``, not
    those of the image the inputs made), or None. Foreign layers (fetched from their urls, never from this
    registry) are checked by count and position only."""
    reference = Reference(repo.registry, repo.repository, None, found.digest)
    manifest = image_manifest(client.get_manifest(reference)[0], f"{found.reference}: the manifest")
    config_digest = manifest["config"]["digest"]
    config = image_config(client.get_blob(repo.registry, repo.repository, config_digest),
                          f"{found.reference}: the config {config_digest[:19]}")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = manifest.get("layers") or []
    if len(diff_ids) != len(layers):
        return f"its manifest has {len(layers)} layers, its config {len(diff_ids)}"
    if expected_diff_ids is not None and list(diff_ids) != list(expected_diff_ids):
        return "its config's layers are not those of the image these inputs made on this engine"
    for number, (layer, diff_id) in enumerate(zip(layers, diff_ids, strict=True)):
        if layer.get("urls") and layer.get("mediaType") == DOCKER_FOREIGN_LAYER:
            continue
        data = client.get_blob(repo.registry, repo.repository, layer["digest"])  # checked against its digest
        actual = _diff_id(data, layer.get("mediaType", ""))
        if actual is None:
            return f"layer {number} is {str(layer.get('mediaType'))[:80]}, which is not checked here"
        if actual != diff_id:
            return f"layer {number} ({layer['digest'][:19]}) is not the layer its config names ({str(diff_id)[:19]})"
    return None


def split(plans: list, inputs_of, client: RegistryClient, repo: Reference, force: bool, progress: Progress,
          dry_run: bool = False, content_of: ContentCheck | None = None) -> list:
    """The plans to build: those whose image at ``repo`` was made from other inputs, or is not there, or (with
    ``content_of``, see ``check_content``) whose content is not what its inputs annotation says.
    ``dry_run``: the same decisions, said as what would happen."""
    would = "would " if dry_run else ""
    keep = []
    for planned in plans:
        try:
            computed = inputs_of(planned)
        except (Unreachable, RegistryDenied):
            raise  # every other target would meet it too
        except BuilderError:  # a base that cannot be read: the build meets it again, says why and records it
            progress.say(f"{would}build {planned.target.id}: its inputs cannot be read (the build says why)")
            keep.append(planned)
            continue
        decision = decide(computed, None if force else published(client, repo, planned.target.id), force)
        if content_of is not None:
            decision = check_content(decision, planned, content_of, client, repo)
        if decision.build:
            keep.append(planned)
            progress.say(f"{would}build {planned.target.id}: {decision.reason}")
        elif dry_run:
            progress.say(f"would skip {planned.target.id}: {decision.reason}")
        else:
            progress.skip(planned.target.id, decision.reason)
    return keep
