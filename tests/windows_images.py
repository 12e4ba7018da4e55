"""Synthetic Windows images in a real registry: nanoserver and servercore shapes, upstream's argoexec.

No Microsoft image can be pulled here. These are built as OCI image layouts on disk, written by
hand (independently of builder/), and copied into the suite's registry with skopeo, so that the
code under test reads them exactly as it would read mcr.microsoft.com and quay.io through a mirror.
Which bases exist follows the matrix: one per Windows release of matrix.yaml, or of a Matrix a test
passes in (a fictional release gets synthetic bases too).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from builder.matrix import Matrix, WindowsRelease
from tests import infra, matrix_facts


class SyntheticBase(NamedTuple):
    """The nanoserver/servercore pair pushed for one Windows release."""

    release: str
    nanoserver: str  # tag
    servercore: str  # tag
    os_version: str  # full os.version of both images: 10.0.BUILD.REVISION


# The revisions the suite's synthetic images have always had (tests name some of these os.versions).
KNOWN_REVISIONS = {"1809": 6893, "1903": 1256, "1909": 1556, "2004": 1415, "20H2": 1889, "ltsc2022": 2966,
                   "ltsc2025": 2894}


def revision(release: WindowsRelease) -> int:
    """A revision for a release's synthetic images: a known one, else one derived from its name (stable)."""
    if release.name in KNOWN_REVISIONS:
        return KNOWN_REVISIONS[release.name]
    return 1000 + int(hashlib.sha256(release.name.encode()).hexdigest()[:8], 16) % 9000


def _releases(releases: Matrix | Iterable[WindowsRelease] | None) -> tuple[WindowsRelease, ...]:
    if releases is None:
        return matrix_facts.RELEASES
    if isinstance(releases, Matrix):
        return releases.releases
    return tuple(releases)


def synthetic_base(release: WindowsRelease) -> SyntheticBase:
    return SyntheticBase(release.name, release.nanoserver, release.servercore,
                         f"{release.build.base}.{revision(release)}")


def synthetic_bases(releases: Matrix | Iterable[WindowsRelease] | None = None) -> list[SyntheticBase]:
    """One synthetic base per Windows release of a matrix (default: the project's matrix.yaml)."""
    return [synthetic_base(r) for r in _releases(releases)]


def os_version(name: str, releases: Matrix | Iterable[WindowsRelease] | None = None) -> str:
    """The os.version of a release's synthetic images, by release name."""
    (found,) = [b.os_version for b in synthetic_bases(releases) if b.release == name]
    return found


# Every release of the project's matrix, in its order.
BASES = synthetic_bases()
UPSTREAM_ARGOEXEC = b"MZ upstream argoexec.exe v4.1.2"
UPSTREAM_7ZA = b"MZ upstream 7za.exe"


def netapi32_bytes(os_version: str, update: bool = True) -> bytes:
    return f"MZ netapi32.dll {'update' if update else 'base'} {os_version}".encode()


def descriptor(sid: str) -> str:
    """A self-relative SECURITY_DESCRIPTOR (base64, as in MSWINDOWS.rawsd) whose owner and group are ``sid``
    ("S-1-5-18"), no ACLs: a stand-in for the descriptors Windows images carry, told apart by their SID."""
    _, revision, authority, *subs = sid.split("-")
    packed = struct.pack("<BB", int(revision), len(subs)) + int(authority).to_bytes(6, "big")
    packed += b"".join(struct.pack("<I", int(sub)) for sub in subs)
    header = struct.pack("<BBHIIII", 1, 0, 0x8000, 20, 20 + len(packed), 0, 0)  # SE_SELF_RELATIVE
    return base64.b64encode(header + packed + packed).decode()


# The records hcsshim's exporter gives an entry (pkg/ociwclayer/export.go, writeTarFromLayer): a file or
# folder is written by go-winio's backuptar.WriteTarFileFromBackupStream, so it carries MSWINDOWS.fileattr
# and MSWINDOWS.rawsd (its descriptor, from the backup stream); a second name of a file is a link entry
# from backuptar.BasicInfoHeader: MSWINDOWS.fileattr only, no descriptor.
TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
STANDIN_SD = descriptor(TRUSTED_INSTALLER)
FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_ARCHIVE = "16", "32"


def _records(kind: str) -> dict[str, str]:
    if kind == "link":
        return {"MSWINDOWS.fileattr": FILE_ATTRIBUTE_ARCHIVE}
    attributes = FILE_ATTRIBUTE_DIRECTORY if kind == "folder" else FILE_ATTRIBUTE_ARCHIVE
    return {"MSWINDOWS.fileattr": attributes, "MSWINDOWS.rawsd": STANDIN_SD}


def _folders_of(files: Iterable[str]) -> tuple[str, ...]:
    """``Files``, ``Hives`` and every folder of the files, parents first: what an exported layer holds."""
    found = {"Files", "Hives"}
    for name in files:
        parts = name.split("/")
        found.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return tuple(sorted(found))


def _layer(files: dict[str, bytes | tuple[str, str]], pax: dict[str, dict[str, str]] | None = None,
           folders: tuple[str, ...] | None = None) -> tuple[bytes, str]:
    """A layer tar; a value ("hardlink", TARGET) makes a hard link; ``pax`` gives an entry's PAX records by
    name, in place of the ones hcsshim's exporter would write (``_records``). ``folders``: the folder entries,
    by default ``Files``, ``Hives`` and the files' folders. Entries are written in the order given (a link
    after its target, as Windows layers do)."""
    pax = pax or {}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in _folders_of(files) if folders is None else folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.pax_headers = dict(pax.get(folder, _records("folder")))
            tar.addfile(info)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.pax_headers = dict(pax.get(name, _records("link")))
                info.type, info.linkname = tarfile.LNKTYPE, content[1]
                tar.addfile(info)
                continue
            info.pax_headers = dict(pax.get(name, _records("file")))
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


def _put(blobs: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest[7:]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_layout(folder: Path, layers: list[dict], os_name: str, arch: str, os_version: str | None,
                 as_index: bool = False, extra_config: dict | None = None,
                 pax: dict[str, dict[str, str]] | list[dict[str, dict[str, str]]] | None = None,
                 folders: tuple[str, ...] | list[tuple[str, ...] | None] | None = None) -> None:
    """An OCI image layout holding one image (or an index with that one image). ``pax`` and ``folders``
    (see ``_layer``) apply to every layer, or, as lists, one item per layer."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descriptors, diff_ids = [], []
    for number, files in enumerate(layers):
        compressed, diff_id = _layer(files, pax[number] if isinstance(pax, list) else pax,
                                     folders[number] if isinstance(folders, list) else folders)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_put(blobs, compressed)})
        diff_ids.append(diff_id)
    config = {"architecture": arch, "os": os_name, "created": "2026-11-11T00:00:00Z",
              "config": {"Env": ["PATH=C:\\Windows\\system32;C:\\Windows"] if os_name == "windows" else [],
                         "Cmd": ["c:\\windows\\system32\\cmd.exe"] if os_name == "windows" else ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2026-11-11T00:00:00Z", "created_by": "synthetic"} for _ in layers]}
    if os_version:
        config["os.version"] = os_version
    config.update(extra_config or {})
    config_descriptor = {"mediaType": "application/vnd.oci.image.config.v1+json",
                         **_put(blobs, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_descriptor, "layers": descriptors}
    manifest_descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           **_put(blobs, json.dumps(manifest).encode())}
    platform = {"architecture": arch, "os": os_name, **({"os.version": os_version} if os_version else {})}
    if as_index:
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [{**manifest_descriptor, "platform": platform}]}
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", **_put(blobs, json.dumps(index).encode())}
    else:
        top = {**manifest_descriptor, "platform": platform}
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**top, "annotations": {"org.opencontainers.image.ref.name": "image"}}]}))


def skopeo_copy(source: Path, destination: str, all_images: bool = False) -> None:
    skopeo = infra.require_binary("skopeo")
    command = [skopeo, "copy", "--quiet", "--dest-tls-verify=false", *(["--all"] if all_images else []),
               f"oci:{source}:image", f"docker://{destination}"]
    subprocess.run(command, check=True, capture_output=True)


def push_windows_bases(registry_host: str, work: Path, prefix: str = "mcr",
                       releases: Matrix | Iterable[WindowsRelease] | None = None) -> list[SyntheticBase]:
    """nanoserver and servercore for every release (default: of the project's matrix) under
    REGISTRY/<prefix>/windows/..., as mcr lays them out; returns what was pushed."""
    bases = synthetic_bases(releases)
    for release, nano_tag, core_tag, version in bases:
        nano = work / f"nano-{release}"
        # 1809's nanoserver is pushed as an index, the others as plain manifests: both shapes are read.
        write_layout(nano, [{"Files/Windows/System32/cmd.exe": b"MZ cmd " + version.encode()}], "windows",
                     "amd64", version, as_index=release == "1809")
        skopeo_copy(nano, f"{registry_host}/{prefix}/windows/nanoserver:{nano_tag}", all_images=release == "1809")
        core = work / f"core-{release}"
        write_layout(core, [
            {"Files/Windows/System32/netapi32.dll": netapi32_bytes(version, update=False),
             "Files/Windows/System32/kernel32.dll": b"MZ kernel32"},
            {"Files/Windows/System32/netapi32.dll": netapi32_bytes(version, update=True)},
        ], "windows", "amd64", version)
        skopeo_copy(core, f"{registry_host}/{prefix}/windows/servercore:{core_tag}")
        source_builder = next((r.source_builder for r in _releases(releases) if r.name == release), None)
        if source_builder and source_builder.startswith("mcr.microsoft.com/"):
            # The windows-source variant's toolchain base of that build (1809: Microsoft's .NET Framework image),
            # here the same synthetic servercore under its name.
            skopeo_copy(core, f"{registry_host}/{prefix}/{source_builder.split('/', 1)[1]}")
    return bases


def push_upstream_argoexec(registry_host: str, work: Path, tag: str = matrix_facts.NEWEST_ARGO,
                           prefix: str = "quay") -> None:
    """upstream's argoexec:<tag>-windows (ltsc2022) and an argoexec:<tag> index with linux amd64/arm64."""
    windows = work / f"upstream-{tag}-windows"
    write_layout(windows, [{"Files/Windows/System32/cmd.exe": b"MZ cmd"},
                           {"Files/app/argoexec.exe": UPSTREAM_ARGOEXEC, "Files/app/7za.exe": UPSTREAM_7ZA}],
                 "windows", "amd64", os_version("ltsc2022"))
    skopeo_copy(windows, f"{registry_host}/{prefix}/argoproj/argoexec:{tag}-windows")
    # The multi-platform tag: two linux images and upstream's windows one, as in an index.
    folder = work / f"upstream-{tag}"
    blobs = folder / "blobs" / "sha256"
    manifests = []
    for arch in ("amd64", "arm64"):
        sub = work / f"upstream-{tag}-linux-{arch}"
        write_layout(sub, [{"bin/argoexec": f"ELF argoexec {arch}".encode()}], "linux", arch, None)
        manifests.append((sub, arch))
    blobs.mkdir(parents=True, exist_ok=True)
    entries = []
    for sub, _arch in manifests:
        for blob in (sub / "blobs" / "sha256").iterdir():
            (blobs / blob.name).write_bytes(blob.read_bytes())
        top = json.loads((sub / "index.json").read_text())["manifests"][0]
        entries.append({k: top[k] for k in ("mediaType", "digest", "size", "platform")})
    for blob in (windows / "blobs" / "sha256").iterdir():
        (blobs / blob.name).write_bytes(blob.read_bytes())
    win_top = json.loads((windows / "index.json").read_text())["manifests"][0]
    entries.append({"mediaType": win_top["mediaType"], "digest": win_top["digest"], "size": win_top["size"],
                    "platform": {"architecture": "amd64", "os": "windows"}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    index_descriptor = _put(blobs, json.dumps(index).encode())
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", **index_descriptor,
         "annotations": {"org.opencontainers.image.ref.name": "image"}}]}))
    skopeo_copy(folder, f"{registry_host}/{prefix}/argoproj/argoexec:{tag}", all_images=True)
