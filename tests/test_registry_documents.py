"""What a registry serves, read strictly (builder/registry/documents.py): anything that is not UTF-8
JSON of the expected shape is one RegistryError naming the document, never another exception."""

from __future__ import annotations

import json

import pytest

from builder.errors import RegistryError
from builder.registry import image_config, image_index, image_manifest

DIGEST = "sha256:" + "ab" * 32
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 10}
MANIFEST = {"schemaVersion": 2, "config": {**LAYER, "mediaType": "application/vnd.oci.image.config.v1+json"},
            "layers": [LAYER]}
WHAT = "reg.example/a/b:1: the manifest"


def _bytes(value) -> bytes:
    return json.dumps(value).encode()


def test_well_formed_documents_come_back_as_they_are():
    assert image_manifest(_bytes(MANIFEST), WHAT) == MANIFEST
    index = {"manifests": [{**LAYER, "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.1"}}]}
    assert image_index(_bytes(index), WHAT) == index
    config = {"os": "windows", "config": None, "rootfs": {"type": "layers", "diff_ids": [DIGEST]}, "history": []}
    assert image_config(_bytes(config), WHAT) == config


@pytest.mark.parametrize(("body", "problem"), [
    (b"\x84" + _bytes(MANIFEST)[1:], "is not UTF-8 JSON (byte 0x84 at offset 0)"),
    (b"\xef\xbb\xbf" + _bytes(MANIFEST), "is not valid JSON (Unexpected UTF-8 BOM"),
    (b'{"config": ', "is not valid JSON (Expecting value: line 1 column 12 (char 11))"),
    (b"[" * 100_000 + b"]" * 100_000, "is not readable JSON (nested too deeply)"),
    (b"[1]", "is not a JSON object"),
    (_bytes({**MANIFEST, "config": []}), ": config is not a descriptor object"),
    (_bytes({**MANIFEST, "config": {**LAYER, "digest": "sha256:../../x"}}),
     ": config: digest 'sha256:../../x' is not sha256:<64 hex digits>"),
    (_bytes({**MANIFEST, "layers": [{**LAYER, "size": True}]}), ": layers[0]: size 'True' is not a number of bytes"),
    (_bytes({**MANIFEST, "layers": [{**LAYER, "size": -1}]}), ": layers[0]: size '-1' is not a number of bytes"),
    (_bytes({**MANIFEST, "layers": [{**LAYER, "mediaType": 3}]}), ": layers[0]: mediaType is not a string"),
    (_bytes({**MANIFEST, "layers": [{**LAYER, "urls": "http://x"}]}), ": layers[0]: urls is not a list of strings"),
    (_bytes({**MANIFEST, "layers": {}}), ": layers is not a list"),
])
def test_a_manifest_that_is_not_one_is_one_line(body, problem):
    with pytest.raises(RegistryError) as caught:
        image_manifest(body, WHAT)
    assert str(caught.value).startswith(WHAT + (" " if problem.startswith("is") else ""))
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("index", "problem"), [
    ({"manifests": {}}, ": manifests is not a list"),
    ({"manifests": ["sha256:x"]}, ": manifests[0] is not a descriptor object"),
    ({"manifests": [{**LAYER, "platform": []}]}, ": manifests[0].platform is not an object"),
    ({"manifests": [{**LAYER, "platform": {"os.version": 10}}]}, ": manifests[0].platform: os.version is not a string"),
])
def test_an_index_that_is_not_one_is_one_line(index, problem):
    with pytest.raises(RegistryError) as caught:
        image_index(_bytes(index), WHAT)
    assert str(caught.value) == WHAT + problem


@pytest.mark.parametrize(("config", "problem"), [
    ({"os": ["windows"]}, ": os is not a string"),
    ({"os.version": 10}, ": os.version is not a string"),
    ({"config": []}, ": config is not an object"),
    ({"config": {"Env": "PATH=x"}}, ": config.Env is not a list of strings"),
    ({"config": {"Labels": {"a": 1}}}, ": config.Labels is not an object of strings"),
    ({"rootfs": {"type": "layers"}}, ": rootfs.diff_ids is not a list of strings"),
    ({"rootfs": []}, ": rootfs.diff_ids is not a list of strings"),
    ({"history": [1]}, ": history is not a list of objects"),
])
def test_a_config_that_is_not_one_is_one_line(config, problem):
    with pytest.raises(RegistryError) as caught:
        image_config(_bytes(config), "reg.example/a/b:1: the config sha256:abababababab")
    assert str(caught.value) == "reg.example/a/b:1: the config sha256:abababababab" + problem
