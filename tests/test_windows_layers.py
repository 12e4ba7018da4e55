"""Reading Windows layers as hcsshim imports them: hard links and security descriptors, without a registry.

The layers are made by tests/windows_images.py in the shape hcsshim's exporter writes
(pkg/ociwclayer/export.go, writeTarFromLayer) and served from memory; the end-to-end builds are in
tests/test_oci_build.py.
"""

from __future__ import annotations

import hashlib

from builder.oci import Image, extract_files
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


def _image(client: _Blobs, layers: list[dict], pax: dict | None = None) -> Image:
    descriptors = [client.add(windows_images._layer(files, pax)[0]) for files in layers]
    return Image(Reference("registry.invalid", "windows/servercore", "x", None), {"layers": descriptors},
                 "application/vnd.oci.image.manifest.v1+json", "sha256:" + "0" * 64, {}, b"{}")


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
