"""What the oci package writes to disk, and how: whole or not at all, and caches read as caches (issue 19 items 4
and 8). The end-to-end builds (push, layout, foreign layers) are in tests/test_oci_build.py and
tests/test_foreign_layers.py."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest

from builder.errors import DigestMismatch
from builder.oci.assembly import Assembled
from builder.oci.blob import BytesBlob, ForeignBlob, RemoteBlob
from builder.oci.layer import windows_layer
from builder.oci.write import write_layout
from builder.registry import Reference, RegistryClient
from tests.hostile_http import Hostile, HostileServer

PLATFORM = {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.1"}
FILES = {"app/argoexec.exe": b"MZ argoexec, constructed", "app/7za.exe": b"MZ 7za, constructed"}


def _assembled(*layers) -> Assembled:
    config = b'{"os":"windows"}'
    config_blob = BytesBlob("sha256:" + hashlib.sha256(config).hexdigest(), len(config),
                            "application/vnd.oci.image.config.v1+json", config)
    manifest = json.dumps({"layers": [blob.descriptor() for blob in layers]}).encode()
    return Assembled("v3.6.5-windows-ltsc2022", manifest, "application/vnd.oci.image.manifest.v1+json",
                     "sha256:" + hashlib.sha256(manifest).hexdigest(), config_blob, tuple(layers))


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_base_layer_served_with_other_bytes_leaves_nothing_in_the_layout(tmp_path):
    served = b"x" * 4096  # constructed: a server that answers every blob GET with these bytes
    claimed = "sha256:" + hashlib.sha256(b"y" * 4096).hexdigest()
    with HostileServer(Hostile("huge", size=len(served), fill=b"x")) as server:
        client = RegistryClient(attempts=1, timeout_s=20)
        layer = RemoteBlob(claimed, len(served), "application/vnd.oci.image.layer.v1.tar+gzip",
                           Reference(server.host, "windows/nanoserver", "ltsc2022", None), client)
        with pytest.raises(DigestMismatch, match=claimed):
            write_layout(tmp_path / "oci", _assembled(layer), PLATFORM)
    # No blob under its digest, and no half-written temporary file either (the old writer left <digest>.part).
    assert _files(tmp_path / "oci") == ["oci-layout"]


def test_a_foreign_layer_is_described_with_its_urls_and_never_written(tmp_path):
    foreign = ForeignBlob("sha256:" + "ab" * 32, 1234, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                          ("https://mcr.invalid/v2/windows/servercore/blobs/sha256:" + "ab" * 32,))
    assembled = _assembled(foreign)
    write_layout(tmp_path / "oci", assembled, PLATFORM)
    assert json.loads(assembled.manifest)["layers"][0]["urls"] == list(foreign.urls)
    blobs = tmp_path / "oci" / "blobs" / "sha256"
    assert sorted(p.name for p in blobs.iterdir()) == sorted([assembled.config.digest[7:], assembled.digest[7:]])
    with pytest.raises(Exception, match="served at its urls"):
        foreign.open()


def _index(folder: Path) -> Path:
    [index] = folder.glob("*.json")
    return index


@pytest.mark.parametrize("damage", [
    "half written", "not an object", "a file name outside the cache", "another size", "empty", "not UTF-8"])
def test_a_damaged_layer_cache_index_is_a_miss_and_the_layer_is_made_again(tmp_path, damage):
    fresh = windows_layer(FILES, tmp_path / "layers")
    index = _index(tmp_path / "layers")
    known = json.loads(index.read_text())
    text = {"half written": index.read_text()[:30],
            "not an object": "[]",
            "a file name outside the cache": json.dumps({**known, "file": "../../outside.tar.gz"}),
            "another size": json.dumps({**known, "size": known["size"] + 1}),
            "empty": ""}.get(damage)
    if text is None:
        index.write_bytes(b'{"file": "\xff\xfe"}')
    else:
        index.write_text(text)
    again = windows_layer(FILES, tmp_path / "layers")
    assert again == fresh
    assert json.loads(index.read_text()) == known  # made again, and the index with it


def test_a_layer_that_fails_midway_leaves_no_temporary_file(tmp_path):
    # Records without a security descriptor are refused when the tar reaches that entry, after gzip has begun.
    with pytest.raises(ValueError, match="no MSWINDOWS.rawsd"):
        windows_layer(FILES, tmp_path / "layers", windows_pax={"files/app/argoexec.exe": {"MSWINDOWS.fileattr": "32"}})
    assert _files(tmp_path / "layers") == []  # the old writer left its tmp*.tar.gz behind


def test_a_layer_is_read_from_its_cache_by_its_inputs(tmp_path):
    first = windows_layer(FILES, tmp_path / "layers")
    first.blob.path.write_bytes(b"x" * first.blob.size)  # same size, other bytes: proves nothing was compressed
    again = windows_layer(FILES, tmp_path / "layers")
    assert again == first and again.blob.path.read_bytes() == b"x" * first.blob.size


# Writes that are not an output file of their own: a folder renamed whole once complete (a cache entry), and a
# file written into a build context that exists only for the engine's build.
WHOLE_FOLDER_RENAMES = {"compile.py", "source.py"}
BUILD_CONTEXT_WRITES = {"builders/docker.py"}


def test_every_output_file_is_written_through_the_one_atomic_writer():
    """No module but builder/files.py renames a temporary file into place or writes a file in one call."""
    package = Path(__file__).resolve().parent.parent / "builder"
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name == "files.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                call = node.func.attr
                if call in ("mkstemp", "NamedTemporaryFile") or (
                        call in ("replace", "rename") and name not in WHOLE_FOLDER_RENAMES
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "os") or (
                        call in ("write_text", "write_bytes")
                        and name not in WHOLE_FOLDER_RENAMES | BUILD_CONTEXT_WRITES):
                    found.append(f"{name}:{node.lineno}: {call}")
    assert found == []
