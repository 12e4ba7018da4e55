"""The daemonless builder (``--builder oci``): Windows images assembled from registries, on any machine.

For each target: the nanoserver base of its build (manifest and config), a layer with
``netapi32.dll`` read from the servercore image of the same build (streamed, cached by digest),
and the app layer (``argoexec.exe`` and ``7za.exe``), the same blob for every base. Output: a push
to ``--to REGISTRY/REPO`` (blobs first, each once: HEAD, then mount, then upload; the manifest
last) or, without ``--to``, an OCI image layout (default ``dist/oci``).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import results
from .build import oci_labels
from .errors import BuilderError, InputError, Unreachable
from .matrix import Matrix
from .oci import (
    Assembled,
    Blob,
    Image,
    Layer,
    assemble,
    check_same_build,
    created_time,
    extract_files,
    resolve,
    windows_layer,
)
from .plan import PlannedTarget, plan_target
from .progress import Progress
from .registry import Reference, RegistryClient, RegistryDenied
from .source import BuildContext, cache_dir, prebuilt_binaries
from .targets import Target

NETAPI32 = "Files/Windows/System32/netapi32.dll"
UPSTREAM_FILES = {"Files/app/argoexec.exe": "argoexec.exe", "Files/app/7za.exe": "7za.exe"}
DEFAULT_LAYOUT = Path("dist/oci")
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class OciOptions:
    to: Reference | None = None  # registry + repository (no tag)
    out: Path = DEFAULT_LAYOUT
    argoexec_exe: Path | None = None
    sevenzip_exe: Path | None = None
    results_dir: Path = results.DEFAULT_DIR
    runner: str = "local"
    work: Path = field(default_factory=lambda: cache_dir() / "layers")


@dataclass
class OciOutcome:
    planned: PlannedTarget
    reference: str
    digest: str | None
    record: results.Record

    @property
    def ok(self) -> bool:
        return self.record.status == results.PASS


class Assembler:
    """Shares the expensive parts between targets: the app layer per Argo version, netapi32 per build."""

    def __init__(self, matrix: Matrix, client: RegistryClient, options: OciOptions, progress: Progress):
        self.matrix = matrix
        self.client = client
        self.options = options
        self.progress = progress
        self._app_layers: dict[str, Layer] = {}
        self._netapi_layers: dict[str, Layer] = {}

    # -- inputs --------------------------------------------------------------------------------

    def app_layer(self, target: Target) -> Layer:
        key = "prebuilt" if self.options.argoexec_exe else target.argo.tag
        if key not in self._app_layers:
            if self.options.argoexec_exe:
                files = prebuilt_binaries(self.options.argoexec_exe, True, self.options.sevenzip_exe)
            else:
                files = self._upstream_binaries(target)
            self._app_layers[key] = windows_layer({f"app/{name}": content for name, content in files.items()},
                                                  self.options.work)
            self.progress.line(f"app layer {self._app_layers[key].blob.digest[:19]} "
                               f"({self._app_layers[key].blob.size} bytes)")
        return self._app_layers[key]

    def _upstream_binaries(self, target: Target) -> dict[str, Path]:
        """argoexec.exe and 7za.exe from upstream's ``argoexec:<tag>-windows`` image, cached by digest."""
        upstream = f"{self.matrix.registries.argoexec}:{target.argo.tag}-windows"
        reference = Reference.parse(self.matrix.mirrored(upstream))
        image = resolve(self.client, reference)
        folder = cache_dir() / "upstream" / image.manifest_digest.replace(":", "-")
        if not all((folder / name).is_file() for name in UPSTREAM_FILES.values()):
            self.progress.line(f"reading argoexec.exe and 7za.exe from {reference}")
            found = extract_files(self.client, image, UPSTREAM_FILES).files
            missing = sorted(set(UPSTREAM_FILES.values()) - set(found))
            if missing:
                raise InputError(f"{target.id}: {reference} has no {', '.join(missing)}; pass --argoexec-exe PATH")
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in found.items():
                _atomic_write(folder / name, content)
        return {name: folder / name for name in UPSTREAM_FILES.values()}

    def netapi_layer(self, target: Target) -> Layer:
        release = target.release
        if release.name not in self._netapi_layers:
            reference = Reference.parse(self.matrix.base_image(release, "servercore"))
            servercore = resolve(self.client, reference, build=release.build.build)
            check_same_build(target.id, "servercore", servercore, release.build.build)
            cached = cache_dir() / "netapi32" / f"{servercore.manifest_digest.replace(':', '-')}.dll"
            attributes = cached.with_suffix(".pax.json")
            if not (cached.is_file() and attributes.is_file()):
                self.progress.line(f"reading netapi32.dll from {reference} ({servercore.os_version})")
                found = extract_files(self.client, servercore, {NETAPI32: "dll"})
                if "dll" not in found.files:
                    raise InputError(f"{target.id}: {reference} has no {NETAPI32}; is it a servercore image?")
                cached.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(cached, found.files["dll"])
                _atomic_write(attributes, json.dumps(found.windows_pax, sort_keys=True).encode())
            # The DLL and its folders keep servercore's security descriptors (System32 must not change).
            self._netapi_layers[release.name] = windows_layer(
                {"Windows/System32/netapi32.dll": cached}, self.options.work,
                windows_pax=json.loads(attributes.read_text()))
        return self._netapi_layers[release.name]

    def base(self, target: Target) -> Image:
        release = target.release
        image = resolve(self.client, Reference.parse(self.matrix.base_image(release)), build=release.build.build)
        check_same_build(target.id, "nanoserver", image, release.build.build)
        return image

    # -- the image -----------------------------------------------------------------------------

    def image(self, planned: PlannedTarget) -> Assembled:
        target = planned.target
        base = self.base(target)
        netapi = self.netapi_layer(target)
        app = self.app_layer(target)
        created = created_time(base)
        context = BuildContext(self.options.work, "prebuilt")
        labels = oci_labels(planned, context, base.manifest_digest, created)
        labels["io.argoexec-builder.os.version"] = base.os_version or target.release.build.base
        return assemble(target.id, base, [
            (netapi, f"argoexec-builder: netapi32.dll from {self.matrix.base_image(target.release, 'servercore')}"),
            (app, "argoexec-builder: C:\\app\\argoexec.exe, C:\\app\\7za.exe; ENV PATH; ENTRYPOINT [\"argoexec\"]"),
        ], labels, created)


# ---------------------------------------------------------------------------------------------
# Outputs


def push(client: RegistryClient, destination: Reference, assembled: Assembled, progress: Progress) -> str:
    """Blobs first (each once), the manifest last: a crash never leaves a tag pointing at missing blobs."""
    for blob in assembled.blobs:
        if blob.urls:
            continue  # a foreign layer is fetched from its urls by the node, never pushed
        if blob.source is not None and blob.path is None and blob.data is None:
            copy_blob(client, blob, destination, progress)
        else:
            state = client.push_blob(destination.registry, destination.repository, blob.digest, blob.size, blob.open)
            progress.line(f"{blob.digest[:19]} {state}")
    tagged = destination.with_tag(assembled.target_id)
    if client.head_manifest(tagged) == assembled.digest:
        progress.line(f"{tagged} unchanged")
        return assembled.digest
    return client.put_manifest(tagged, assembled.manifest, assembled.media_type)


def copy_blob(client: RegistryClient, blob: Blob, destination: Reference, progress: Progress) -> None:
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
        client.download_blob(source.registry, source.repository, blob.digest, path)
        client.upload_blob(destination.registry, destination.repository, blob.digest, blob.size,
                           lambda: open(path, "rb"))
    progress.line(f"{blob.digest[:19]} copied from {source.registry}/{source.repository}")


def write_layout(client: RegistryClient, out: Path, assembled: Assembled, platform: dict) -> None:
    """Add the image to an OCI image layout (blobs/, index.json with its ref.name, oci-layout)."""
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    for blob in [*assembled.blobs]:
        path = blobs / blob.digest[7:]
        if path.exists() or blob.urls:
            continue
        if blob.path is not None:
            shutil.copyfile(blob.path, path.with_suffix(".part"))
        elif blob.data is not None:
            path.with_suffix(".part").write_bytes(blob.data)
        else:
            client.download_blob(blob.source.registry, blob.source.repository, blob.digest, path.with_suffix(".part"))
        os.replace(path.with_suffix(".part"), path)
    _atomic_write(blobs / assembled.digest[7:], assembled.manifest)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
    index["mediaType"] = "application/vnd.oci.image.index.v1+json"
    entries = [m for m in index.get("manifests", [])
               if m.get("annotations", {}).get(REF_NAME) != assembled.target_id]
    entries.append({"mediaType": assembled.media_type, "digest": assembled.digest, "size": len(assembled.manifest),
                    "platform": platform, "annotations": {REF_NAME: assembled.target_id}})
    index["manifests"] = sorted(entries, key=lambda m: m.get("annotations", {}).get(REF_NAME, ""))
    _atomic_write(index_path, json.dumps(index, indent=2).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)



def build_oci(matrix: Matrix, targets: list[Target], client: RegistryClient, options: OciOptions,
              progress: Progress) -> list[OciOutcome]:
    """Assemble each Windows target; a failed target is recorded and the others go on."""
    linux = [t.id for t in targets if not t.is_windows]
    if linux:
        raise InputError(f"{', '.join(linux)}: the oci builder assembles Windows images; build Linux targets with "
                         "--builder docker")
    assembler = Assembler(matrix, client, options, progress)
    outcomes = []
    for target in targets:
        planned = plan_target(matrix, target)
        started, started_at = time.monotonic(), results.rfc3339(results.now())
        where = f"{options.to}:{target.id}" if options.to else f"oci:{options.out}:{target.id}"
        progress.begin(f"assemble {target.id} -> {where}")
        digest, status, detail = None, results.FAIL, ""
        try:
            assembled = assembler.image(planned)
            if options.to is not None:
                digest = push(client, options.to, assembled, progress)
            else:
                write_layout(client, options.out, assembled, {"architecture": "amd64", "os": "windows",
                                                              "os.version": json.loads(
                                                                  assembled.config.data)["os.version"]})
                digest = assembled.digest
            status = results.PASS
        except (Unreachable, RegistryDenied) as exc:
            # The same registry fails every other target too: stop here (exit 4 or 2), no manifest was written.
            progress.end(target.id, results.ERROR, exc.__class__.__name__)
            raise
        except BuilderError as exc:
            detail = str(exc)
            progress.line(detail)
        except (tarfile.TarError, OSError, KeyError, ValueError) as exc:  # an image we cannot read
            detail = f"cannot read an image of {target.id} ({exc.__class__.__name__}: {exc})"
            progress.line(detail)
        progress.end(target.id, status, digest or detail)
        record = results.Record(
            target=target.id, argo=target.argo.tag, os=target.os, base=target.base,
            image_os_version=target.release.build.base, image=where, image_digest=digest, host_os_version=None,
            runner=options.runner, engine_version=None, isolation=None, check=results.CHECK_BUILD, status=status,
            started_at=started_at, duration_s=time.monotonic() - started, log_excerpt=progress.tail())
        results.write(record, options.results_dir)
        outcomes.append(OciOutcome(planned, where, digest, record))
    return outcomes
