"""The oci builder on MCR-shaped bases: every base layer foreign, its bytes only at its urls.

Until June 2023 MCR published Windows bases with Docker schema 2 manifests whose layers have media type
``application/vnd.docker.image.rootfs.foreign.diff.tar.gzip`` and ``urls``; the end-of-life tags 1903,
1909, 2004 and 20H2 keep them (docs/windows.md, "Foreign layers"). A registry that mirrors them holds
the manifest but no blob for those layers. Here the bases are made by the test (constructed), pushed to
a real distribution registry configured to accept such manifests (``validation.manifests.urls.allow``),
and their layer blobs live in another repository, reachable only through the urls.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from tests import infra, windows_images
from tests.cli import invoke

pytestmark = pytest.mark.registry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OS_VERSION = windows_images.os_version("1909")
# The urls' host in the manifests: not reachable from here, mapped onto the registry by a --mirror.
DOWNLOAD_HOST = "download.mcr.invalid"


@pytest.fixture(scope="module")
def foreign_registry():
    registry = infra.start_registry(foreign_urls=True)
    yield registry
    registry.stop()


@pytest.fixture()
def binaries(tmp_path):
    exe = tmp_path / "bin" / "argoexec.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"MZ argoexec for a foreign base")
    return exe


@pytest.fixture()
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    import os
    return {**os.environ}


def _upload(registry: infra.Registry, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    location = location if location.startswith("http") else registry.url + location
    put = requests.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", data=data,
                       headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert put.status_code == 201, put.text
    return digest


def _push_mcr_shaped(registry: infra.Registry, repository: str, tag: str, layers: list[tuple[bytes, str, list[str]]],
                     blob_repository: str) -> dict:
    """A Docker schema 2 manifest at ``repository:tag`` whose layers are all foreign: each (gzipped tar, diff_id,
    urls) has its blob uploaded to ``blob_repository`` only, and the urls given (``{digest}`` filled in)."""
    descriptors, diff_ids = [], []
    for compressed, diff_id, urls in layers:
        digest = _upload(registry, blob_repository, compressed)
        descriptors.append({"mediaType": FOREIGN, "size": len(compressed), "digest": digest,
                            "urls": [url.format(digest=digest) for url in urls]})
        diff_ids.append(diff_id)
    config = {"architecture": "amd64", "os": "windows", "os.version": OS_VERSION, "created": "2021-05-11T00:00:00Z",
              "config": {"Env": ["PATH=C:\\Windows\\system32;C:\\Windows"], "Cmd": ["c:\\windows\\system32\\cmd.exe"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2021-05-11T00:00:00Z", "created_by": "constructed"} for _ in layers]}
    config_bytes = json.dumps(config).encode()
    config_digest = _upload(registry, repository, config_bytes)
    manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
                "layers": descriptors}
    put = requests.put(f"{registry.url}/v2/{repository}/manifests/{tag}", data=json.dumps(manifest),
                       headers={"Content-Type": DOCKER_MANIFEST}, timeout=10)
    assert put.status_code == 201, put.text
    return manifest


def _mcr_1909(registry: infra.Registry, name: str, update_layer: tuple[bytes, str] | None = None) -> dict:
    """nanoserver and servercore 1909 under ``<name>/windows/...``, MCR-shaped; their blobs under ``<name>-blobs``.

    servercore's base layer has two urls: the first answers 404, the second is on DOWNLOAD_HOST (a --mirror maps
    it onto ``<name>-blobs``). Its update layer (the newer netapi32.dll) has one url straight at the blob."""
    blobs = f"{name}-blobs"
    direct = f"{registry.url}/v2/{blobs}/windows/{{flavour}}/blobs/{{digest}}"
    nano = windows_images._layer({"Files/Windows/System32/cmd.exe": b"MZ cmd " + OS_VERSION.encode()})
    nanoserver = _push_mcr_shaped(registry, f"{name}/windows/nanoserver", "1909",
                                  [(*nano, [direct.replace("{flavour}", "nanoserver")])],
                                  f"{blobs}/windows/nanoserver")
    base = windows_images._layer({
        "Files/Windows/System32/netapi32.dll": windows_images.netapi32_bytes(OS_VERSION, update=False),
        "Files/Windows/System32/kernel32.dll": b"MZ kernel32"})
    update = update_layer or windows_images._layer(
        {"Files/Windows/System32/netapi32.dll": windows_images.netapi32_bytes(OS_VERSION, True)})
    servercore = _push_mcr_shaped(registry, f"{name}/windows/servercore", "1909", [
        (*base, [f"{registry.url}/v2/{name}-nowhere/blobs/{{digest}}",
                 f"https://{DOWNLOAD_HOST}/v2/windows/servercore/blobs/{{digest}}"]),
        (*update, [direct.replace("{flavour}", "servercore")]),
    ], f"{blobs}/windows/servercore")
    return {"nanoserver": nanoserver, "servercore": servercore,
            "mirrors": ("--mirror", f"mcr.microsoft.com={registry.host}/{name}",
                        "--mirror", f"{DOWNLOAD_HOST}={registry.host}/{blobs}")}


def _manifest(registry: infra.Registry, repository: str, tag: str) -> dict:
    answer = requests.get(f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": DOCKER_MANIFEST},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _blob(registry: infra.Registry, repository: str, digest: str) -> bytes | None:
    answer = requests.get(f"{registry.url}/v2/{repository}/blobs/{digest}", timeout=30)
    return answer.content if answer.status_code == 200 else None


def test_1909_builds_from_foreign_layers_and_keeps_them_foreign(foreign_registry, binaries, cache_env, tmp_path):
    bases = _mcr_1909(foreign_registry, "mcr1")
    repository = "mcr1-out/argoexec"
    result = invoke("build", "--builder", "oci", "--base", "1909", "--to", f"{foreign_registry.host}/{repository}",
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"), *bases["mirrors"],
                    env=cache_env)
    assert result.returncode == 0, result.stdout + result.stderr
    built = _manifest(foreign_registry, repository, "v4.1.2-windows-1909")
    assert built["mediaType"] == DOCKER_MANIFEST
    # The base layer stays as MCR published it: foreign, with its urls, and never copied into the repository.
    assert built["layers"][0] == bases["nanoserver"]["layers"][0]
    assert _blob(foreign_registry, repository, built["layers"][0]["digest"]) is None
    # Every layer is in the repository, or foreign with urls that serve its digest.
    for layer in built["layers"]:
        data = _blob(foreign_registry, repository, layer["digest"])
        if data is None:
            assert layer["mediaType"] == FOREIGN and layer["urls"], layer
            served = requests.get(layer["urls"][0], timeout=30).content
            assert "sha256:" + hashlib.sha256(served).hexdigest() == layer["digest"]
        else:
            assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
    # netapi32.dll is servercore's, from its newest foreign layer (the update).
    netapi = _blob(foreign_registry, repository, built["layers"][1]["digest"])
    import gzip
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(netapi))) as tar:
        dll = tar.extractfile("Files/Windows/System32/netapi32.dll").read()
    assert dll == windows_images.netapi32_bytes(OS_VERSION, update=True)
    # The servercore layers read are cached by digest: a second build reads none of them again.
    cached = sorted(p.name for p in (tmp_path / "cache" / "foreign-layers").iterdir())
    assert cached == sorted(f"{layer['digest'].replace(':', '-')}.tar.gz"
                            for layer in bases["servercore"]["layers"][-1:])


def test_a_url_that_serves_other_bytes_is_refused_naming_the_digest(foreign_registry, binaries, cache_env, tmp_path):
    # servercore's update layer names one digest, and its url serves another layer's bytes.
    honest = windows_images._layer({"Files/Windows/System32/netapi32.dll": windows_images.netapi32_bytes(OS_VERSION)})
    bases = _mcr_1909(foreign_registry, "mcr2", update_layer=honest)
    layer = bases["servercore"]["layers"][-1]
    other = _upload(foreign_registry, "mcr2-blobs/windows/servercore", honest[0] + b"\0tampered")
    layer_url = f"{foreign_registry.url}/v2/mcr2-blobs/windows/servercore/blobs/{other}"
    tampered = {**bases["servercore"], "layers": [*bases["servercore"]["layers"][:-1], {**layer, "urls": [layer_url]}]}
    put = requests.put(f"{foreign_registry.url}/v2/mcr2/windows/servercore/manifests/1909",
                       data=json.dumps(tampered), headers={"Content-Type": DOCKER_MANIFEST}, timeout=10)
    assert put.status_code == 201, put.text
    repository = "mcr2-out/argoexec"
    result = invoke("build", "--builder", "oci", "--base", "1909", "--to", f"{foreign_registry.host}/{repository}",
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"), *bases["mirrors"],
                    env=cache_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"foreign layer {layer['digest']}" in result.stdout and "other bytes" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # Nothing was published, and nothing unverified was cached.
    assert requests.get(f"{foreign_registry.url}/v2/{repository}/manifests/v4.1.2-windows-1909",
                        timeout=10).status_code == 404
    assert not list((tmp_path / "cache" / "foreign-layers").glob("*.tar.gz"))


def test_the_mirror_repository_is_read_before_the_urls(foreign_registry, binaries, cache_env, tmp_path):
    """An air-gapped mirror that copied the foreign blobs too: they are read there, and no url is tried."""
    bases = _mcr_1909(foreign_registry, "mcr3")
    for layer in bases["servercore"]["layers"]:
        data = _blob(foreign_registry, "mcr3-blobs/windows/servercore", layer["digest"])
        _upload(foreign_registry, "mcr3/windows/servercore", data)
    # Every url now points nowhere reachable.
    moved = {**bases["servercore"], "layers": [{**layer, "urls": ["https://nowhere.invalid/blob"]}
                                               for layer in bases["servercore"]["layers"]]}
    put = requests.put(f"{foreign_registry.url}/v2/mcr3/windows/servercore/manifests/1909",
                       data=json.dumps(moved), headers={"Content-Type": DOCKER_MANIFEST}, timeout=10)
    assert put.status_code == 201, put.text
    result = invoke("build", "--builder", "oci", "--base", "1909", "--out", str(tmp_path / "layout"),
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                    "--mirror", f"mcr.microsoft.com={foreign_registry.host}/mcr3", env=cache_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"read from http://{foreign_registry.host}/v2/mcr3/windows/servercore/blobs/" in result.stdout
    assert "nowhere.invalid" not in result.stdout
