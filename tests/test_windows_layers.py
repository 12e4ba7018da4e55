"""Reading Windows layers as hcsshim imports them: hard links and security descriptors, without a registry.

The layers are made by tests/windows_images.py in the shape hcsshim's exporter writes
(pkg/ociwclayer/export.go, writeTarFromLayer) and served from memory; the end-to-end builds are in
tests/test_oci_build.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import pytest

from builder.oci.layer import WINDOWS_RAWSD, windows_layer
from builder.oci.remote import Image, extract_files
from builder.registry import Reference
from tests import windows_images

DLL = "Files/Windows/System32/netapi32.dll"


class _Blobs:
    """A stand-in for RegistryClient.stream_blob over layers held in memory; counts the reads."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.reads: list[str] = []

    def add(self, compressed: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(compressed).hexdigest()
        self.blobs[digest] = compressed
        return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                "size": len(compressed)}

    def stream_blob(self, registry, repository, digest):
        self.reads.append(digest)
        data = self.blobs[digest]
        yield from (data[i:i + 1000] for i in range(0, len(data), 1000))


def _image_of(descriptors: list[dict]) -> Image:
    return Image(Reference("registry.invalid", "windows/servercore", "x", None), {"layers": descriptors},
                 "application/vnd.oci.image.manifest.v1+json", "sha256:" + "0" * 64, {}, b"{}")


def _image(client: _Blobs, layers: list[dict], pax: dict | None = None) -> Image:
    return _image_of([client.add(windows_images._layer(files, pax)[0]) for files in layers])


def _records(found, path: str) -> dict[str, str]:
    return found.windows_pax[path.lower()]


def test_a_link_takes_content_and_records_from_its_target_earlier_in_the_layer():
    client = _Blobs()
    target = "Files/Windows/WinSxS/a/netapi32.dll"
    sd = windows_images.descriptor("S-1-5-18")
    image = _image(client, [{target: b"MZ a", DLL: ("hardlink", target)}],
                   pax={target: {"MSWINDOWS.rawsd": sd, "MSWINDOWS.fileattr": "33"}})
    found = extract_files(client, image, {DLL: "dll"})
    assert found.files == {"dll": b"MZ a"}
    assert _records(found, DLL) == {"MSWINDOWS.rawsd": sd, "MSWINDOWS.fileattr": "33"}
    assert len(client.reads) == 2  # the target came before the link: the layer is read again for it


def test_a_link_to_a_link_in_an_older_layer_is_followed_to_the_file():
    """Update layer: System32's name links to B; the layer below has B as a link to A (hcsshim's
    AddLink finds a target in the parent layers); A is the file."""
    client = _Blobs()
    a, b = "Files/Windows/WinSxS/a/netapi32.dll", "Files/Windows/WinSxS/b/netapi32.dll"
    sd = windows_images.descriptor("S-1-5-18")
    image = _image(client, [{a: b"MZ a"}, {b: ("hardlink", a)}, {DLL: ("hardlink", b)}],
                   pax={a: {"MSWINDOWS.rawsd": sd, "MSWINDOWS.fileattr": "33"}})
    found = extract_files(client, image, {DLL: "dll"})
    assert found.files == {"dll": b"MZ a"}
    assert _records(found, DLL)["MSWINDOWS.rawsd"] == sd
    assert len(client.reads) == 3  # each layer once: no target was earlier in its link's layer


def test_a_link_whose_target_comes_after_it_takes_the_older_layers_file():
    """hcsshim's legacyLayerWriter.AddLink links to a file of its own layer only if it was added before
    the link; otherwise it looks in the parent layers (internal/wclayer/legacy.go)."""
    client = _Blobs()
    target = "Files/Windows/WinSxS/a/netapi32.dll"
    image = _image(client, [{target: b"MZ old"}, {DLL: ("hardlink", target), target: b"MZ new"}])
    found = extract_files(client, image, {DLL: "dll"})
    assert found.files == {"dll": b"MZ old"}


def test_a_regular_dll_in_an_older_layer_does_not_stand_in_for_a_link_not_yet_followed():
    client = _Blobs()
    old, new = "Files/Windows/WinSxS/1/netapi32.dll", "Files/Windows/WinSxS/2/netapi32.dll"
    image = _image(client, [{old: b"MZ 1", new: b"MZ 2", DLL: b"MZ 1"}, {DLL: ("hardlink", new)}])
    found = extract_files(client, image, {DLL: "dll"})
    assert found.files == {"dll": b"MZ 2"}


def _base_and_update(client: _Blobs, update_folders: tuple[str, ...] | None) -> tuple[Image, dict]:
    """servercore's shape: a base layer with every folder, an update layer with the DLL."""
    sds = {folder: {"MSWINDOWS.rawsd": windows_images.descriptor(f"S-1-5-21-{n}"), "MSWINDOWS.fileattr": "16"}
           for n, folder in enumerate(("Files", "Files/Windows", "Files/Windows/System32"))}
    base = client.add(windows_images._layer({DLL: b"MZ base"}, sds)[0])
    update = client.add(windows_images._layer({DLL: b"MZ update"}, folders=update_folders)[0])
    return _image_of([base, update]), sds


def test_folders_are_read_from_older_layers_until_each_has_a_descriptor():
    client = _Blobs()
    image, sds = _base_and_update(client, ("Hives",))
    found = extract_files(client, image, {DLL: "dll"}, folders=True)
    assert found.files == {"dll": b"MZ update"}
    assert {path: found.windows_pax[path.lower()] for path in sds} == sds
    assert found.windows_pax[DLL.lower()]["MSWINDOWS.rawsd"] == windows_images.STANDIN_SD
    assert len(client.reads) == 2


def test_the_newest_folder_entry_with_a_descriptor_wins_and_no_older_layer_is_read():
    client = _Blobs()
    image, _ = _base_and_update(client, None)  # the update layer has the folders, with their descriptors
    found = extract_files(client, image, {DLL: "dll"}, folders=True)
    assert found.windows_pax["files/windows"]["MSWINDOWS.rawsd"] == windows_images.STANDIN_SD
    assert len(client.reads) == 1


def test_without_folders_the_search_stops_at_the_files():
    """upstream's argoexec image: only the files are wanted, its base layers are not read for folders."""
    client = _Blobs()
    image, _ = _base_and_update(client, ("Hives",))
    assert extract_files(client, image, {DLL: "dll"}).files == {"dll": b"MZ update"}
    assert len(client.reads) == 1


def test_a_layer_keeps_the_records_it_is_given_and_refuses_records_without_a_descriptor(tmp_path):
    system32 = {"MSWINDOWS.rawsd": windows_images.descriptor("S-1-5-18"), "MSWINDOWS.fileattr": "16"}
    layer = windows_layer({"Windows/System32/netapi32.dll": b"MZ"}, tmp_path,
                          windows_pax={"files/windows/system32": system32})
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.blob.path.read_bytes()))) as tar:
        records = {m.name: m.pax_headers for m in tar.getmembers()}
    assert records["Files/Windows/System32"] == system32
    assert records["Files/Windows"] == {"MSWINDOWS.rawsd": WINDOWS_RAWSD}  # not given: ours
    with pytest.raises(ValueError, match="Files/Windows: its Windows records carry no MSWINDOWS.rawsd"):
        windows_layer({"Windows/System32/netapi32.dll": b"MZ"}, tmp_path / "other",
                      windows_pax={"files/windows": {"MSWINDOWS.fileattr": "16"}})
