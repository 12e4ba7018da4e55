"""Where an assembled image (or a blob of one) goes.

- ``push``: to a registry, blobs first (each once: HEAD, then a mount, then an upload) and the
  manifest last, so a crash never leaves a tag pointing at missing blobs;
- ``copy_blob``: one blob from the repository that has it into another (mount within a
  registry, else download and upload); the index tag uses it for upstream's linux entries;
- ``write_layout``: to an OCI image layout on disk (``blobs/``, ``index.json``, ``oci-layout``),
  every file written through files.atomic_output.

A foreign layer (``ForeignBlob``) is served at its urls: it is never pushed, copied or written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..files import atomic_output, write_atomically
from ..progress import Progress
from ..registry import Reference, RegistryClient
from .assembly import Assembled
from .blob import ForeignBlob, RemoteBlob

REF_NAME = "org.opencontainers.image.ref.name"
COPY_CHUNK = 1 << 20


def push(client: RegistryClient, destination: Reference, assembled: Assembled, progress: Progress) -> str:
    """Push ``assembled`` as ``<destination>:<target-id>``; its digest."""
    for blob in assembled.blobs:
        if isinstance(blob, ForeignBlob):
            continue  # a foreign layer is fetched from its urls by the node, never pushed
        if isinstance(blob, RemoteBlob):
            copy_blob(client, blob, destination, progress)
        else:
            state = client.push_blob(destination.registry, destination.repository, blob.digest, blob.size, blob.open)
            progress.line(f"{blob.digest[:19]} {state}")
    tagged = destination.with_tag(assembled.target_id)
    if client.head_manifest(tagged) == assembled.digest:
        progress.line(f"{tagged} unchanged")
        return assembled.digest
    return client.put_manifest(tagged, assembled.manifest, assembled.media_type)


def copy_blob(client: RegistryClient, blob: RemoteBlob, destination: Reference, progress: Progress) -> None:
    """``blob`` into ``destination``'s repository, unless it is there: mounted within a registry, else read from
    its repository (digest checked) and uploaded."""
    if client.blob_exists(destination.registry, destination.repository, blob.digest):
        client.stats.existing += 1
        progress.line(f"{blob.digest[:19]} exists")
        return
    source = blob.source
    if source.registry == destination.registry and client.mount_blob(
            destination.registry, destination.repository, blob.digest, source.repository):
        progress.line(f"{blob.digest[:19]} mounted from {source.repository}")
        return
    with tempfile.TemporaryDirectory(prefix="argoexec-blob-") as scratch:
        path = Path(scratch) / "blob"
        with blob.open() as read, open(path, "wb") as out:
            shutil.copyfileobj(read, out, COPY_CHUNK)
        client.upload_blob(destination.registry, destination.repository, blob.digest, blob.size,
                           lambda: open(path, "rb"))
    progress.line(f"{blob.digest[:19]} copied from {source.registry}/{source.repository}")


def write_layout(out: Path, assembled: Assembled, platform: dict) -> None:
    """Add the image to an OCI image layout (blobs/, index.json with its ref.name, oci-layout)."""
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))
    for blob in assembled.blobs:
        path = blobs / blob.digest[7:]
        if path.exists() or isinstance(blob, ForeignBlob):
            continue
        with atomic_output(path) as written, blob.open() as read:
            shutil.copyfileobj(read, written, COPY_CHUNK)
    write_atomically(blobs / assembled.digest[7:], assembled.manifest)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
    index["mediaType"] = "application/vnd.oci.image.index.v1+json"
    entries = [m for m in index.get("manifests", [])
               if m.get("annotations", {}).get(REF_NAME) != assembled.target_id]
    entries.append({"mediaType": assembled.media_type, "digest": assembled.digest, "size": len(assembled.manifest),
                    "platform": platform, "annotations": {REF_NAME: assembled.target_id}})
    index["manifests"] = sorted(entries, key=lambda m: m.get("annotations", {}).get(REF_NAME, ""))
    write_atomically(index_path, json.dumps(index, indent=2).encode())
