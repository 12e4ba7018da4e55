"""The oci builder (``--builder oci``): Windows images assembled from registries, with no engine, on any machine.

For each target: the nanoserver base of its build (manifest and config), a layer with
``netapi32.dll`` read from the servercore image of the same build (streamed, cached by digest),
and the app layer (``argoexec.exe`` and ``7za.exe``), the same blob for every base. Output: a push
to ``--to REGISTRY/REPO`` (blobs first, each once: HEAD, then mount, then upload; the manifest
last) or, without ``--to``, an OCI image layout (default ``dist/oci``).
"""

from __future__ import annotations

import json
import tarfile

from .. import checks, inputs, results
from ..binaries import Binary
from ..cache import cache_root
from ..errors import BuilderError, InputError, RegistryDenied, Unreachable, in_words
from ..files import read_cached_json, write_atomically
from ..matrix import Matrix
from ..oci.assembly import Assembled, assemble, created_time
from ..oci.blob import Layer
from ..oci.foreign import CACHE_FOLDER as FOREIGN_CACHE
from ..oci.foreign import ForeignLayers
from ..oci.layer import RAWSD, windows_layer
from ..oci.remote import Image, check_same_build, extract_files, resolve
from ..oci.write import push, write_layout
from ..plan import PlannedTarget
from ..progress import Progress
from ..registry import Reference, RegistryClient
from ..targets import Target
from . import BuildOptions, Outcome, image_labels, would_build

NETAPI32 = "Files/Windows/System32/netapi32.dll"
# The cache of netapi32.dll and its records, by servercore digest. v2: a hard-linked DLL has its target's
# records (v1 kept the link entry's, which carry no security descriptor), and every folder of the DLL has
# the descriptor servercore gives it.
NETAPI32_CACHE = "netapi32-v2"
# What the netapi32 layer writes besides Hives: the DLL and its folders, Files being C:\.
NETAPI32_PATHS = tuple("/".join(NETAPI32.split("/")[:i]) for i in range(1, NETAPI32.count("/") + 2))


def _drive_path(layer_path: str) -> str:
    """``Files/Windows`` -> ``C:\\Windows``."""
    return "C:\\" + "\\".join(layer_path.split("/")[1:])


def _cached_records(path) -> dict[str, dict[str, str]] | None:
    """The cached Windows records of netapi32.dll and its folders; None if they cannot be read (read them again)."""
    records = read_cached_json(path)
    if not (isinstance(records, dict) and all(
            isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            for value in records.values())):
        return None
    return records


class Assembler:
    """Shares the expensive parts between targets: the app layer per Argo version, netapi32 per build."""

    def __init__(self, matrix: Matrix, client: RegistryClient, options: BuildOptions, progress: Progress):
        self.matrix = matrix
        self.client = client
        self.options = options
        self.progress = progress
        self._app_layers: dict[str, Layer] = {}
        self._netapi_layers: dict[str, Layer] = {}
        self._digests: dict[str, str] = {}  # base reference -> its manifest digest
        self._inputs: dict[str, inputs.Inputs] = {}
        self._bases: dict[str, Image] = {}  # release -> its nanoserver, read once per run (every Argo version's)

    # -- inputs --------------------------------------------------------------------------------

    def binary(self, target: Target) -> Binary:
        binary = self.options.binaries.get(target.argo.tag)
        if binary is None:
            raise InputError(f"{target.id}: the oci builder copies a binary into the image; the windows-source "
                             "variant compiles inside servercore and needs the docker builder on a Windows engine")
        return binary

    def app_layer(self, target: Target) -> Layer:
        """The layer with argoexec.exe (and 7za.exe when there is one): one blob for every base that
        carries the same binary."""
        files = self.binary(target).files()
        key = json.dumps(sorted((name, str(path)) for name, path in files.items()))
        if key not in self._app_layers:
            self._app_layers[key] = windows_layer({f"app/{name}": path for name, path in files.items()},
                                                  self.options.work)
            self.progress.line(f"app layer {self._app_layers[key].blob.digest[:19]} "
                               f"({self._app_layers[key].blob.size} bytes)")
        return self._app_layers[key]

    def netapi_layer(self, target: Target) -> Layer:
        release = target.release
        if release.name not in self._netapi_layers:
            reference = Reference.parse(self.matrix.base_image(release, "servercore"))
            servercore = resolve(self.client, reference, build=release.build.build)
            check_same_build(target.id, "servercore", servercore, release.build.build)
            cached = cache_root() / NETAPI32_CACHE / f"{servercore.manifest_digest.replace(':', '-')}.dll"
            attributes = cached.with_suffix(".pax.json")
            records = _cached_records(attributes) if cached.is_file() else None
            if records is None:
                self.progress.line(f"reading netapi32.dll from {reference} ({servercore.os_version})")
                # Bases published before June 2023 (1903, 1909, 2004, 20H2) keep MCR's foreign layers: read
                # from the mirror or their urls (builder/oci/foreign.py).
                foreign = ForeignLayers(self.client, cache_root() / FOREIGN_CACHE, self.matrix.mirrored,
                                        self.progress.line)
                found = extract_files(self.client, servercore, {NETAPI32: "dll"}, folders=True, foreign=foreign)
                if "dll" not in found.files:
                    raise InputError(f"{target.id}: {reference} has no {NETAPI32}; is it a servercore image?")
                # hcsshim gives each folder the descriptor of its entry in the layer (its importer restores
                # the entry's MSWINDOWS.rawsd: go-winio backuptar WriteBackupStreamFromTarFile), and cannot
                # import a file whose folders have no entry before it (internal/wclayer/legacy.go,
                # legacyLayerWriter.Add creates the file under the import root with NtCreateFile, which makes
                # no parent folder). So the folders are written with servercore's descriptors, or the build stops.
                missing = [path for path in NETAPI32_PATHS if RAWSD not in found.windows_pax.get(path.lower(), {})]
                if missing:
                    raise InputError(f"{target.id}: no layer of {reference} gives a security descriptor for "
                                     f"{', '.join(map(_drive_path, missing))}; a netapi32.dll layer would have "
                                     "to put one of its own over it")
                cached.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(cached, found.files["dll"])
                text = json.dumps(found.windows_pax, sort_keys=True)
                write_atomically(attributes, text.encode())
                records = json.loads(text)  # keys sorted, as a cached read gives them: the same layer bytes either way
            # The DLL and its folders keep servercore's security descriptors (C:\, C:\Windows and System32
            # must not change).
            self._netapi_layers[release.name] = windows_layer(
                {"Windows/System32/netapi32.dll": cached}, self.options.work,
                windows_pax=records)
        return self._netapi_layers[release.name]

    def base_digest(self, release, flavour: str) -> str:
        """The manifest digest of a base: the locked one (no request), else read from the registry."""
        locked = self.matrix.locked_base(release, flavour)
        if locked is not None:
            return locked.digest
        reference = self.matrix.base_image(release, flavour)
        if reference not in self._digests:
            image = resolve(self.client, Reference.parse(reference), build=release.build.build)
            self._digests[reference] = image.manifest_digest
        return self._digests[reference]

    def inputs(self, planned: PlannedTarget) -> inputs.Inputs:
        """What this target's image is made from (see builder.inputs); no request when the bases are locked."""
        target = planned.target
        if target.id not in self._inputs:
            binary = self.binary(target)
            recipe = {"builder": "oci", "netapi32": NETAPI32_CACHE,
                      "netapi32_from": self.base_digest(target.release, "servercore"),
                      "files": sorted(binary.files()), "user": "ContainerAdministrator"}
            self._inputs[target.id] = inputs.Inputs(
                base=self.base_digest(target.release, "nanoserver"), commit=binary.commit,
                binary=binary.input,
                recipe=inputs.sha256_text(json.dumps(recipe, sort_keys=True)), tool=inputs.tool_version())
        return self._inputs[target.id]

    def base(self, target: Target) -> Image:
        release = target.release
        if release.name not in self._bases:
            image = resolve(self.client, Reference.parse(self.matrix.base_image(release)), build=release.build.build)
            check_same_build(target.id, "nanoserver", image, release.build.build)
            self._bases[release.name] = image
        return self._bases[release.name]

    # -- the image -----------------------------------------------------------------------------

    def image(self, planned: PlannedTarget) -> Assembled:
        target = planned.target
        base = self.base(target)
        netapi = self.netapi_layer(target)
        app = self.app_layer(target)
        created = created_time(base)
        binary = self.binary(target)
        made_from = self.inputs(planned)
        labels = {**image_labels(planned, self.options.argo_git, None, base.manifest_digest, created, binary),
                  **made_from.labels}
        labels["io.argoexec-builder.os.version"] = base.os_version or target.release.build.base
        copied = ", ".join(f"C:\\app\\{name}" for name in binary.files())
        # The manifest carries the inputs too (one GET tells the next run whether to rebuild), and the base it was
        # made from (image-spec annotations.md: org.opencontainers.image.base.name and .base.digest).
        annotations = {**made_from.labels, "org.opencontainers.image.base.name": planned.base_tag or planned.base_image,
                       "org.opencontainers.image.base.digest": base.manifest_digest}
        return assemble(target.id, base, [
            (netapi, f"argoexec-builder: netapi32.dll from {self.matrix.base_image(target.release, 'servercore')}"),
            (app, f"argoexec-builder: {copied}; ENV PATH; ENTRYPOINT [\"argoexec\"]"),
        ], labels, created, annotations)


class OciBuilder:
    name = "oci"
    done = "assembled {image}@{digest}"

    def __init__(self, matrix: Matrix, client: RegistryClient, options: BuildOptions, progress: Progress):
        self.matrix = matrix
        self.client = client
        self.options = options
        self.assembler = Assembler(matrix, client, options, progress)

    def inputs(self, planned: PlannedTarget) -> inputs.Inputs:
        return self.assembler.inputs(planned)

    def content(self, planned: PlannedTarget, found: inputs.Published, client, repo) -> str | None:
        """The image assembled without uploading it: the published one is what its inputs make only when the
        manifest digests are equal (builder.inputs.check_content)."""
        digest = self.assembler.image(planned).digest
        if digest == found.digest:
            return None
        return f"assembled from these inputs it is {digest[:19]}, the registry holds {found.digest[:19]}"

    def build(self, plans: list[PlannedTarget], progress: Progress, *, dry_run: bool = False) -> list[Outcome]:
        """Assemble each Windows target; a failed target is recorded and the others go on. ``dry_run``: say
        what would be assembled (with --to: and what skipped), upload and write nothing."""
        if dry_run:
            return would_build(self, plans, self.options, self.client, progress)
        options = self.options
        assembler = self.assembler
        outcomes = []
        for planned in plans:
            target = planned.target
            started = results.Started()
            where = f"{options.to}:{target.id}" if options.to else f"oci:{options.out}:{target.id}"
            progress.begin(f"assemble {target.id} -> {where}")
            digest, status, detail = None, checks.FAIL, ""
            try:
                assembled = assembler.image(planned)
                if options.to is not None:
                    digest = push(self.client, options.to, assembled, progress)
                else:
                    os_version = json.loads(assembled.config.data)["os.version"]
                    write_layout(options.out, assembled,
                                 {"architecture": "amd64", "os": "windows", "os.version": os_version})
                    digest = assembled.digest
                status = checks.PASS
            except (Unreachable, RegistryDenied) as exc:
                # The same registry fails every other target too: stop here (exit 4 or 2), no manifest was written.
                progress.end(target.id, checks.ERROR, in_words(exc))
                raise
            except BuilderError as exc:
                detail = str(exc)
                progress.line(detail)
            except (tarfile.TarError, OSError, KeyError, ValueError) as exc:  # an image we cannot read
                detail = f"cannot read an image of {target.id} ({in_words(exc)}: {exc})"
                progress.line(detail)
            progress.end(target.id, status, digest or detail)
            binary = options.binaries.get(target.argo.tag)
            record = results.Record.of(planned, check=checks.BUILD.name, status=status, started=started, image=where,
                                       image_digest=digest, runner=options.runner, log=progress.tail(),
                                       argoexec=binary.summary if binary else None)
            results.write(record, options.results_dir)
            outcomes.append(Outcome(planned, where, digest, record))
        return outcomes
