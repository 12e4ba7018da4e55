"""An image assembled from a base and layers, as values: the manifest and config, no I/O (go-containerregistry's
``mutate``).

The image config copies ``os``, ``architecture`` and ``os.version`` from the base; ``PATH`` is
set with ``Env`` (nothing can RUN here), ``Entrypoint`` is ``["argoexec"]``. The base's layers stay
as they are (a foreign layer stays foreign, with its urls); the new layers follow them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from dataclasses import dataclass

from ..registry import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    sha256_digest,
)
from ..render import WINDOWS_PATH
from .blob import Blob, BytesBlob, Layer
from .remote import Image


@dataclass(frozen=True)
class Assembled:
    """An image as values: its manifest's bytes, media type and digest, its config and its layers' blobs."""

    target_id: str
    manifest: bytes
    media_type: str
    digest: str
    config: BytesBlob
    layers: tuple[Blob, ...] = ()

    @property
    def blobs(self) -> list[Blob]:
        return [*self.layers, self.config]


def created_time(base: Image) -> str:
    """The image's creation time: SOURCE_DATE_EPOCH when set, else the base's own (so re-runs match)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return base.config.get("created") or "1970-01-01T00:00:00Z"


def assemble(target_id: str, base: Image, extra: list[tuple[Layer, str]], labels: dict[str, str],
             created: str, annotations: dict[str, str] | None = None) -> Assembled:
    """The base's layers plus ``extra`` layers (each with its history note), and the new config.

    ``annotations`` go on the manifest when it is an OCI one (a Docker image manifest has no such field)."""
    docker_types = base.manifest_media_type == DOCKER_MANIFEST
    config = copy.deepcopy(base.config)
    container = config.setdefault("config", {}) or {}
    config["config"] = container
    env = [e for e in (container.get("Env") or []) if not e.upper().startswith("PATH=")]
    container["Env"] = [*env, f"PATH={WINDOWS_PATH}"]
    container["Entrypoint"] = ["argoexec"]
    container["Cmd"] = None
    container["User"] = "ContainerAdministrator"
    container["Labels"] = {**(container.get("Labels") or {}), **labels}
    config["created"] = created
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    history = config.setdefault("history", [])
    layers = base.layer_blobs()
    for layer, note in extra:
        rootfs["diff_ids"].append(layer.diff_id)
        history.append({"created": created, "created_by": note})
        media_type = DOCKER_LAYER_GZIP if docker_types else OCI_LAYER_GZIP
        layers.append(layer.blob.retyped(media_type))
    config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_blob = BytesBlob(sha256_digest(config_bytes), len(config_bytes),
                            DOCKER_CONFIG if docker_types else OCI_CONFIG, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker_types else OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [blob.descriptor() for blob in layers],
    }
    if annotations and not docker_types:
        manifest["annotations"] = dict(sorted(annotations.items()))
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    return Assembled(target_id, manifest_bytes, manifest["mediaType"], sha256_digest(manifest_bytes), config_blob,
                     tuple(layers))
