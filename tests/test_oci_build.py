"""The daemonless builder, the index tag and the registry client, against the suite's real registry.

Synthetic Windows bases (tests/windows_images.py) stand in for mcr.microsoft.com and quay.io, read
through --mirror exactly as an air-gapped site would.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time

import pytest
import requests

from builder.matrix import load_matrix
from builder.oci.layer import WINDOWS_RAWSD
from tests import argo_standin, infra, matrix_facts, windows_images
from tests.cli import ROOT, invoke
from tests.faulty_proxy import Fault, FaultyProxy
from tests.matrix_facts import NEWEST_ARGO, target_id
from tests.windows_images import BASES


@pytest.fixture(scope="module")
def mirrors(registry, tmp_path_factory):
    work = tmp_path_factory.mktemp("windows-images")
    windows_images.push_windows_bases(registry.host, work)
    windows_images.push_upstream_argoexec(registry.host, work)
    return ("--mirror", f"mcr.microsoft.com={registry.host}/mcr", "--mirror", f"quay.io={registry.host}/quay")


@pytest.fixture()
def binaries(tmp_path):
    exe = tmp_path / "bin" / "argoexec.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"MZ" + bytes(range(256)) * 64)
    (tmp_path / "bin" / "7za.exe").write_bytes(b"MZ 7za")
    return exe


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    import os
    return {**os.environ}


def _skopeo(*args: str) -> str:
    skopeo = infra.require_binary("skopeo")
    return subprocess.run([skopeo, *args], check=True, capture_output=True, text=True).stdout


def _log_mark(registry) -> int:
    """Where the registry's access log ends once it has stopped growing (lines may land late)."""
    size, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 0.3:
        current = len(registry.requests_log())
        if current != size:
            size, stable_since = current, time.monotonic()
        time.sleep(0.05)
    return size


def _blob_uploads(registry, repository: str, since: int) -> list[str]:
    """Digests of the blob uploads the registry completed for a repository (from its access log)."""
    log = registry.requests_log()[since:]
    pattern = re.compile(rf'"PUT /v2/{re.escape(repository)}/blobs/uploads/[^" ]*'
                         r'digest=(sha256%3A|sha256:)([a-f0-9]{64})[^"]*" 201 ')
    return ["sha256:" + m.group(2) for m in pattern.finditer(log)]


def _manifest_puts(registry, repository: str, since: int) -> int:
    return len(re.findall(rf'"PUT /v2/{re.escape(repository)}/manifests/', registry.requests_log()[since:]))


def _layer_tar(registry, repository: str, digest: str) -> tarfile.TarFile:
    data = requests.get(f"{registry.url}/v2/{repository}/blobs/{digest}", timeout=30).content
    return tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)))


def test_assemble_every_base_push_and_publish(registry, mirrors, binaries, isolated_cache, tmp_path):
    repo = f"{registry.host}/out/argoexec"
    since = _log_mark(registry)
    result = invoke("build", "--builder", "oci", "--base", "all", "--to", repo, "--argoexec-exe", str(binaries),
                    "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache, timeout=300,
                    process=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(BASES) == len(matrix_facts.RELEASES)  # a synthetic base for every release of matrix.yaml
    assert result.stdout.count(f"assembled {repo}:{NEWEST_ARGO}-windows-") == len(BASES)

    app_digests = set()
    for release, nano_tag, _core_tag, os_version in BASES:
        ref = f"docker://{repo}:{target_id(release)}"
        manifest = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", ref))
        config = json.loads(_skopeo("inspect", "--config", "--tls-verify=false", ref))
        assert config["os"] == "windows" and config["architecture"] == "amd64"
        assert config["os.version"] == os_version
        assert config["config"]["Entrypoint"] == ["argoexec"]
        assert "PATH=C:\\app;C:\\Windows\\System32;C:\\Windows" in config["config"]["Env"]
        assert config["config"]["Labels"]["org.opencontainers.image.version"] == NEWEST_ARGO
        assert config["config"]["Labels"]["org.opencontainers.image.base.name"].endswith(f"nanoserver:{nano_tag}")
        assert len(manifest["layers"]) == 3 and len(config["rootfs"]["diff_ids"]) == 3
        netapi, app = manifest["layers"][1]["digest"], manifest["layers"][2]["digest"]
        app_digests.add(app)
        with _layer_tar(registry, "out/argoexec", netapi) as tar:
            members = {m.name: m for m in tar.getmembers()}
            dll = tar.extractfile(members["Files/Windows/System32/netapi32.dll"]).read()
        # The DLL of the same build, from servercore's top layer (its update), never another build's.
        assert dll == windows_images.netapi32_bytes(os_version, update=True)
    assert len(app_digests) == 1  # one app layer for every base

    with _layer_tar(registry, "out/argoexec", app_digests.pop()) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["Files", "Files/app", "Hives", "Files/app/7za.exe",
                                             "Files/app/argoexec.exe"]
        assert all(m.pax_headers.get("MSWINDOWS.rawsd") == WINDOWS_RAWSD for m in members)
        assert tar.extractfile("Files/app/argoexec.exe").read() == binaries.read_bytes()

    uploads = _blob_uploads(registry, "out/argoexec", since)
    assert len(uploads) == len(set(uploads)), "a blob was uploaded twice"
    assert len(uploads) == 1 + 2 * len(BASES)  # the app layer once; a netapi32 layer and a config per base
    assert result.stdout.count("mounted from mcr/windows/nanoserver") == len(BASES)

    # A second run uploads nothing and rewrites no manifest.
    since = _log_mark(registry)
    again = invoke("build", "--builder", "oci", "--base", "all", "--to", repo, "--argoexec-exe", str(binaries),
                   "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache, timeout=300,
                   process=True)
    assert again.returncode == 0, again.stderr
    assert _blob_uploads(registry, "out/argoexec", since) == []
    assert _manifest_puts(registry, "out/argoexec", since) == 0

    # One tag for every Windows build, plus upstream's linux entries.
    # The table's outputs go to tmp_path, not to the project's docs/ and README.md.
    outputs = ("--docs", str(tmp_path / "docs"), "--readme", "", "--db", str(tmp_path / "r.sqlite"))
    published = invoke("publish", "--to", repo, "--argo", NEWEST_ARGO, *outputs, *mirrors, env=isolated_cache)
    assert published.returncode == 0, published.stdout + published.stderr
    assert f"({len(BASES) + 2} entries, written)" in published.stdout
    index = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:{NEWEST_ARGO}"))
    windows = [m["platform"] for m in index["manifests"] if m["platform"]["os"] == "windows"]
    assert [p["os.version"] for p in windows] == sorted((b.os_version for b in BASES),
                                                        key=lambda v: int(v.split(".")[2]), reverse=True)
    linux = [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"][len(BASES):]]
    assert linux == [("linux", "amd64"), ("linux", "arm64")]
    for entry in index["manifests"]:  # every child is in the repository
        assert requests.head(f"{registry.url}/v2/out/argoexec/manifests/{entry['digest']}", timeout=10,
                             headers={"Accept": entry["mediaType"]}).status_code == 200
    since = _log_mark(registry)
    republished = invoke("publish", "--to", repo, "--argo", NEWEST_ARGO, *outputs, *mirrors, env=isolated_cache)
    assert f"({len(BASES) + 2} entries, unchanged)" in republished.stdout
    # Nothing changed, nothing written: not the index, not the linux children, not a blob.
    assert _manifest_puts(registry, "out/argoexec", since) == 0
    assert _blob_uploads(registry, "out/argoexec", since) == []


def test_oci_layout_output_without_a_registry_push(registry, mirrors, binaries, isolated_cache, tmp_path):
    out = tmp_path / "layout"
    result = invoke("build", "--builder", "oci", "--base", "1809,ltsc2025", "--out", str(out),
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"), *mirrors,
                    env=isolated_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    index = json.loads((out / "index.json").read_text())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [
        "v4.1.2-windows-1809", "v4.1.2-windows-ltsc2025"]
    assert [m["platform"]["os.version"] for m in index["manifests"]] == ["10.0.17763.6893", "10.0.26100.2894"]
    config = json.loads(_skopeo("inspect", "--config", f"oci:{out}:v4.1.2-windows-ltsc2025"))
    assert config["os.version"] == "10.0.26100.2894" and config["config"]["Entrypoint"] == ["argoexec"]
    # skopeo reads the layout and can push it anywhere.
    _skopeo("copy", "--quiet", "--dest-tls-verify=false", f"oci:{out}:v4.1.2-windows-1809",
            f"docker://{registry.host}/fromlayout/argoexec:1809")
    copied = json.loads(_skopeo("inspect", "--config", "--tls-verify=false",
                                f"docker://{registry.host}/fromlayout/argoexec:1809"))
    assert copied["os.version"] == "10.0.17763.6893"


def test_a_release_added_to_the_matrix_is_assembled_from_its_own_bases(registry, mirrors, binaries,
                                                                      isolated_cache, tmp_path):
    """One entry in matrix.yaml is all a new release needs: its synthetic bases follow that matrix."""
    name, build = matrix_facts.FICTIONAL_NAME, matrix_facts.FICTIONAL_BUILD
    path = tmp_path / "matrix.yaml"
    path.write_text(matrix_facts.with_release(name, build))
    matrix = load_matrix(path)
    (base,) = windows_images.push_windows_bases(registry.host, tmp_path / "images", releases=[matrix.release(name)])
    assert base.os_version.startswith(f"{build}.")
    assert base.os_version == windows_images.os_version(name, matrix)
    out = tmp_path / "layout"
    result = invoke("build", "--matrix", str(path), "--builder", "oci", "--base", name, "--out", str(out),
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"), *mirrors,
                    env=isolated_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    index = json.loads((out / "index.json").read_text())
    assert [(m["annotations"]["org.opencontainers.image.ref.name"], m["platform"]["os.version"])
            for m in index["manifests"]] == [(target_id(name), base.os_version)]
    config = json.loads(_skopeo("inspect", "--config", f"oci:{out}:{target_id(name)}"))
    assert config["os.version"] == base.os_version
    assert config["config"]["Labels"]["org.opencontainers.image.base.name"].endswith(f"nanoserver:{name}")
    manifest = json.loads(_skopeo("inspect", "--raw", f"oci:{out}:{target_id(name)}"))
    netapi = (out / "blobs" / "sha256" / manifest["layers"][1]["digest"][7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(netapi))) as tar:
        dll = tar.extractfile("Files/Windows/System32/netapi32.dll").read()
    assert dll == windows_images.netapi32_bytes(base.os_version, update=True)


def test_build_without_a_windows_engine_goes_through_oci(registry, mirrors, binaries, isolated_cache, tmp_path):
    out = tmp_path / "layout"
    no_engine = {**isolated_cache, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    result = invoke("build", "--base", "1909", "--out", str(out), "--argoexec-exe", str(binaries),
                    "--results", str(tmp_path / "results"), *mirrors, env=no_engine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "assembling with the oci builder" in result.stdout
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert record["status"] == "pass" and record["check"] == "build" and record["target"] == "v4.1.2-windows-1909"


def test_binary_upstream_takes_upstreams_windows_image_and_says_so(registry, mirrors, isolated_cache, tmp_path):
    repo = f"{registry.host}/fromupstream/argoexec"
    result = invoke("build", "--builder", "oci", "--base", "ltsc2022", "--to", repo, "--binary", "upstream",
                    "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:v4.1.2-windows-ltsc2022"))
    with _layer_tar(registry, "fromupstream/argoexec", manifest["layers"][-1]["digest"]) as tar:
        assert tar.extractfile("Files/app/argoexec.exe").read() == windows_images.UPSTREAM_ARGOEXEC
        assert tar.extractfile("Files/app/7za.exe").read() == windows_images.UPSTREAM_7ZA
    sha = hashlib.sha256(windows_images.UPSTREAM_ARGOEXEC).hexdigest()
    labels = json.loads(_skopeo("inspect", "--config", "--tls-verify=false",
                                f"docker://{repo}:v4.1.2-windows-ltsc2022"))["config"]["Labels"]
    assert labels["io.argoexec-builder.argoexec.origin"] == "upstream"
    assert labels["io.argoexec-builder.argoexec.sha256"] == f"sha256:{sha}"
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert record["argoexec"].startswith(f"upstream argoexec sha256:{sha} (")
    assert "argoproj/argoexec:v4.1.2-windows@sha256:" in record["argoexec"]


def test_a_servercore_of_another_build_is_never_used(registry, binaries, isolated_cache, tmp_path):
    # A mirror whose servercore:1909 is really a 1903 image.
    mirror = _mirror_1909(registry, tmp_path, "wrong", [{"Files/Windows/System32/netapi32.dll": b"MZ 1903"}],
                          core_version="10.0.18362.1256")
    result = invoke("build", "--builder", "oci", "--base", "1909", "--out", str(tmp_path / "layout"),
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                    "--mirror", mirror, env=isolated_cache)
    assert result.returncode == 1
    assert "servercore" in result.stdout and "has os.version 10.0.18362.1256, not 10.0.18363" in result.stdout
    assert not (tmp_path / "layout" / "index.json").exists()


def test_a_registry_that_fails_for_a_while_is_retried_to_success(registry, mirrors, binaries, isolated_cache,
                                                                   tmp_path):
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("PUT", r"/v2/flaky/argoexec/blobs/uploads/", "status", times=2, status=503))
        proxy.inject(Fault("PUT", r"/v2/flaky/argoexec/blobs/uploads/", "drop", times=1))
        proxy.inject(Fault("HEAD", r"/v2/flaky/argoexec/blobs/", "status", times=1, status=502))
        proxy.inject(Fault("PUT", r"/v2/flaky/argoexec/manifests/", "status", times=1, status=429))
        repo = f"{proxy.host}/flaky/argoexec"
        result = invoke("build", "--builder", "oci", "--base", "ltsc2022", "--to", repo, "--argoexec-exe",
                        str(binaries), "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache)
        assert result.returncode == 0, result.stdout + result.stderr
        statuses = [status for method, path, status in proxy.state.log if "/flaky/" in path]
        assert statuses.count(503) == 2 and statuses.count(-1) == 1 and 429 in statuses and 502 in statuses
    config = json.loads(_skopeo("inspect", "--config", "--tls-verify=false",
                                f"docker://{registry.host}/flaky/argoexec:v4.1.2-windows-ltsc2022"))
    assert config["os.version"] == "10.0.20348.2966"


def test_a_registry_that_keeps_failing_exits_4_and_publishes_no_manifest(registry, mirrors, binaries,
                                                                         isolated_cache, tmp_path):
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("PUT", r"/v2/down/argoexec/blobs/uploads/", "status", times=None, status=503))
        repo = f"{proxy.host}/down/argoexec"
        result = invoke("build", "--builder", "oci", "--base", "ltsc2022,ltsc2025", "--to", repo, "--argoexec-exe",
                        str(binaries), "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache)
        manifest_puts = [p for m, p, _ in proxy.state.log if m == "PUT" and "/manifests/" in p]
    assert result.returncode == 4, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: registry {proxy.host}: upload blob sha256:")
    assert line.endswith("failed after 5 attempts (the last answered 503); try again later")  # the true count
    assert manifest_puts == []
    tags = requests.get(f"{registry.url}/v2/down/argoexec/tags/list", timeout=10).json().get("tags") or []
    assert tags == []


def _complete(registry, repository: str, tag: str) -> dict:
    """skopeo reads the image (manifest and config); every blob its manifest names is in the repository."""
    reference = f"docker://{registry.host}/{repository}:{tag}"
    manifest = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", reference))
    config = json.loads(_skopeo("inspect", "--config", "--tls-verify=false", reference))
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
    for blob in [manifest["config"], *manifest["layers"]]:
        assert requests.head(f"{registry.url}/v2/{repository}/blobs/{blob['digest']}",
                             timeout=10).status_code == 200, f"{tag}: {blob['digest']} is missing"
    return manifest


def test_a_push_killed_midway_is_finished_by_a_re_run_that_uploads_only_what_is_missing(
        registry, mirrors, binaries, isolated_cache, tmp_path):
    """kill -9 among the uploads of a real `invoke build --base all --to`: the tags already written are
    complete images, and the next run writes only what the killed one had not."""
    repository = "killed/argoexec"

    def build(host: str) -> tuple[str, ...]:
        # The bases are read from the registry itself both times (their names go into the labels); pushed
        # through the proxy, to another host name, the killed run copies their layers instead of mounting them.
        return ("build", "--builder", "oci", "--base", "all", "--argoexec-exe", str(binaries), "--results",
                str(tmp_path / "results"), "--to", f"{host}/{repository}", *mirrors)
    before = _log_mark(registry)
    with FaultyProxy(registry.url) as proxy:
        # Every upload is answered a second late (the registry has the blob by then): the kill lands among them.
        proxy.inject(Fault("PUT", rf"/v2/{repository}/blobs/uploads/", "slow", times=None, seconds=1.0))
        process = subprocess.Popen([sys.executable, "-m", "invoke", *build(proxy.host)], cwd=ROOT, env=isolated_cache,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while process.poll() is None and time.monotonic() < deadline:
                answered = [p for m, p, s in proxy.state.log if m == "PUT" and "/blobs/uploads/" in p and s == 201]
                if len(answered) >= 5:  # the first image's blobs (its base layer copied), and one of the next
                    break
                time.sleep(0.05)
            assert process.poll() is None, "the build ended before it could be killed"
            os.kill(process.pid, signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.wait(30)
    assert process.returncode == -signal.SIGKILL
    first = _blob_uploads(registry, repository, before)
    assert len(first) >= 5
    tags = requests.get(f"{registry.url}/v2/{repository}/tags/list", timeout=10).json().get("tags") or []
    assert len(tags) < len(BASES)
    for tag in tags:  # manifests last: a tag written before the kill names a complete image
        _complete(registry, repository, tag)

    since = _log_mark(registry)
    again = invoke(*build(registry.host), env=isolated_cache, timeout=300, process=True)
    assert again.returncode == 0, again.stdout + again.stderr
    second = _blob_uploads(registry, repository, since)
    ours = set()  # every blob the images need that is not the base's: a netapi32 layer and a config each, one app
    for base in BASES:
        manifest = _complete(registry, repository, target_id(base.release))
        ours |= {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"][1:])}
    assert len(ours) == 1 + 2 * len(BASES)
    uploads = first + second
    assert len(uploads) == len(set(uploads)), "a blob was uploaded twice"
    assert set(second) == ours - set(first)  # only what was missing (the bases' layers mounted this time)
    assert _manifest_puts(registry, repository, since) == len(BASES) - len(tags)  # the tags written stay

def test_a_registry_that_stops_answering_times_out_then_is_retried_or_given_up(registry, mirrors, binaries,
                                                                               isolated_cache, tmp_path):
    """The proxy holds requests and never answers them: the client's timeout fires and the attempt counts
    as a lost connection (a short timeout, so the test does not wait the default minute)."""
    env = {**isolated_cache, "ARGOEXEC_BUILDER_REGISTRY_TIMEOUT": "2"}
    (base,) = [b for b in BASES if b.release == "ltsc2022"]
    core = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{registry.host}/mcr/windows/servercore:{base.servercore}"))
    top_layer = core["layers"][-1]["digest"]  # read first: the newest layer holds netapi32.dll

    def build(proxy, repository, mirror):
        return invoke("build", "--builder", "oci", "--base", base.release, "--to", f"{proxy.host}/{repository}",
                      "--argoexec-exe", str(binaries), "--results", str(tmp_path / repository),
                      "--mirror", f"mcr.microsoft.com={mirror}/mcr", env=env)

    # Held once each, a base layer's read and an upload: both tried again, and the build succeeds.
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{top_layer}$", "stall", times=1))
        proxy.inject(Fault("PUT", r"/v2/stalled/argoexec/blobs/uploads/", "stall", times=1))
        started = time.monotonic()
        result = build(proxy, "stalled/argoexec", proxy.host)
        took = time.monotonic() - started
        held = [(method, path.split("?")[0]) for method, path, status in proxy.state.log if status == -3]
    assert result.returncode == 0, result.stdout + result.stderr
    assert [method for method, _ in held] == ["GET", "PUT"] and held[0][1].endswith(top_layer)
    assert took < 30  # two timeouts of 2 s and their backoff, not the default minute
    config = json.loads(_skopeo("inspect", "--config", "--tls-verify=false",
                                f"docker://{registry.host}/stalled/argoexec:{target_id(base.release)}"))
    assert config["os.version"] == base.os_version

    # Held every time: exit 4 in one line naming the true number of attempts, and no manifest written.
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("PUT", r"/v2/stuck/argoexec/blobs/uploads/", "stall", times=None))
        result = build(proxy, "stuck/argoexec", registry.host)
        uploads_held = sum(1 for method, path, status in proxy.state.log if status == -3)
        manifest_puts = [p for m, p, _ in proxy.state.log if m == "PUT" and "/manifests/" in p]
    assert result.returncode == 4, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert re.fullmatch(rf"error: registry {re.escape(proxy.host)}: upload blob sha256:[0-9a-f]{{12}} failed after 5 "
                        r"attempts \((?:timed out|no whole answer within 2 s)\); check that it is up and reachable",
                        line), line  # the read timeout or the answer's deadline, both 2 s: whichever fires first
    assert uploads_held == 5 and manifest_puts == []
    tags = requests.get(f"{registry.url}/v2/stuck/argoexec/tags/list", timeout=10).json().get("tags") or []
    assert tags == []


def test_a_registry_timeout_that_is_not_a_number_of_seconds_is_bad_input(tmp_path):
    for value in ("soon", "0", "-1", "nan", "inf"):
        result = invoke("publish", "--to", "127.0.0.1:9/x/argoexec", "--docs", str(tmp_path / "docs"), "--readme", "",
                        "--db", str(tmp_path / "r.sqlite"),
                        env={**os.environ, "ARGOEXEC_BUILDER_REGISTRY_TIMEOUT": value})
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.strip() == (f"error: ARGOEXEC_BUILDER_REGISTRY_TIMEOUT={value!r}: expected a number of "
                                         "seconds above 0, at most 3600")
        assert not (tmp_path / "docs").exists()  # checked with the other inputs, before anything is written

def test_publish_without_per_base_tags_exits_3(registry, mirrors, isolated_cache, tmp_path):
    result = invoke("publish", "--to", f"{registry.host}/empty/argoexec", "--docs", str(tmp_path / "docs"),
                    "--readme", "", "--db", str(tmp_path / "r.sqlite"), *mirrors, env=isolated_cache)
    assert result.returncode == 3
    assert "has no v4.1.2-windows-<base> tags to publish" in result.stderr


def test_unknown_mirror_syntax_is_bad_input(tmp_path):
    result = invoke("build", "--builder", "oci", "--base", "1809", "--mirror", "mcr.microsoft.com")
    assert result.returncode == 2 and "--mirror mcr.microsoft.com: expected FROM=TO" in result.stderr


def test_digests_are_verified_on_the_way_in(registry, mirrors):
    from builder.registry import DigestMismatch, Reference, RegistryClient

    ref = Reference.parse(f"{registry.host}/mcr/windows/nanoserver:ltsc2022")
    body, _, _ = RegistryClient().get_manifest(ref)
    layer = json.loads(body)["layers"][0]["digest"]
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{layer}", "corrupt", times=None))
        proxy.inject(Fault("GET", r"/manifests/sha256:", "corrupt", times=None))
        client = RegistryClient()
        with pytest.raises(DigestMismatch):
            client.get_blob(proxy.host, ref.repository, layer)
        manifest_digest = "sha256:" + hashlib.sha256(body).hexdigest()
        with pytest.raises(DigestMismatch):
            client.get_manifest(Reference(proxy.host, ref.repository, None, manifest_digest))


def _tampered(body: bytes) -> bytes:
    """A man in the middle's edit: still a valid manifest, no longer the bytes the registry holds."""
    return json.dumps({**json.loads(body), "annotations": {"tampered": "yes"}}).encode()


def _flipped(body: bytes) -> bytes:
    return bytes([body[0] ^ 0xFF]) + body[1:]  # '{' becomes 0x84: not UTF-8


def _registry_digest(registry, repository: str, tag: str) -> str:
    """The digest the registry itself gives the tag (its Docker-Content-Digest, from a request of our own)."""
    response = requests.head(f"{registry.url}/v2/{repository}/manifests/{tag}", timeout=10,
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 200
    return response.headers["Docker-Content-Digest"]


def test_a_manifest_fetched_by_tag_is_checked_against_docker_content_digest(registry, mirrors):
    from builder.registry import DigestMismatch, Reference, RegistryClient

    nano_tag = BASES[-1].nanoserver
    expected = _registry_digest(registry, "mcr/windows/nanoserver", nano_tag)
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/nanoserver/manifests/{nano_tag}$", "rewrite", times=None, rewrite=_tampered))
        ref = Reference(proxy.host, "mcr/windows/nanoserver", nano_tag)
        with pytest.raises(DigestMismatch) as caught:
            RegistryClient().get_manifest(ref)
    assert str(caught.value).startswith(f"{ref}: the registry sent a manifest whose digest is sha256:")
    assert str(caught.value).endswith(f"not the {expected} it names in Docker-Content-Digest")
    # Untouched, the digest returned is the registry's.
    assert RegistryClient().get_manifest(Reference(registry.host, "mcr/windows/nanoserver", nano_tag))[2] == expected


def test_the_base_digest_label_names_a_digest_the_source_registry_has(registry, mirrors, binaries, isolated_cache,
                                                                      tmp_path):
    release, nano_tag = BASES[-1].release, BASES[-1].nanoserver
    expected = _registry_digest(registry, "mcr/windows/nanoserver", nano_tag)

    def build(proxy, repository):
        return invoke("build", "--builder", "oci", "--base", release, "--to", f"{registry.host}/{repository}",
                      "--argoexec-exe", str(binaries), "--results", str(tmp_path / repository),
                      "--mirror", f"mcr.microsoft.com={proxy.host}/mcr", env=isolated_cache)

    with FaultyProxy(registry.url) as proxy:
        result = build(proxy, "label/argoexec")
    assert result.returncode == 0, result.stdout + result.stderr
    labels = json.loads(_skopeo("inspect", "--config", "--tls-verify=false",
                                f"docker://{registry.host}/label/argoexec:{target_id(release)}"))["config"]["Labels"]
    assert labels["org.opencontainers.image.base.digest"] == expected

    # The base's manifest changed on the way: refused in one line, nothing pushed under a label that lies.
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/nanoserver/manifests/{nano_tag}$", "rewrite", times=None, rewrite=_tampered))
        tampered = build(proxy, "tampered/argoexec")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    line = next(line.strip() for line in tampered.stdout.splitlines() if "Docker-Content-Digest" in line)
    assert line.startswith(f"{proxy.host}/mcr/windows/nanoserver:{nano_tag}: the registry sent a manifest whose "
                           "digest is sha256:")
    assert line.endswith(f"not the {expected} it names in Docker-Content-Digest")
    tags = requests.get(f"{registry.url}/v2/tampered/argoexec/tags/list", timeout=10).json().get("tags") or []
    assert tags == []


def test_a_base_manifest_that_is_not_json_is_one_line_naming_it(registry, mirrors, binaries, isolated_cache,
                                                                tmp_path):
    """A registry that sends no Docker-Content-Digest, and bytes that are not UTF-8 JSON."""
    release, nano_tag = BASES[-1].release, BASES[-1].nanoserver
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/nanoserver/manifests/{nano_tag}$", "rewrite", times=None, rewrite=_flipped,
                           strip=("Docker-Content-Digest",)))
        result = invoke("build", "--builder", "oci", "--base", release, "--out", str(tmp_path / "layout"),
                        "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                        "--mirror", f"mcr.microsoft.com={proxy.host}/mcr", env=isolated_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{proxy.host}/mcr/windows/nanoserver:{nano_tag}: the manifest is not UTF-8 JSON (byte 0x84 at offset 0)" \
        in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "layout" / "index.json").exists()


def test_a_base_config_of_the_wrong_shape_is_one_line_naming_it(registry, binaries, isolated_cache, tmp_path):
    mirror = _mirror_1909(registry, tmp_path, "shape", [{"Files/Windows/System32/netapi32.dll": b"MZ 1909"}],
                          nano_config={"config": ["Env", "PATH=C:\\"]})
    result = invoke("build", "--builder", "oci", "--base", "1909,ltsc2022", "--out", str(tmp_path / "layout"),
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                    "--mirror", mirror, env=isolated_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"{re.escape(registry.host)}/shape/windows/nanoserver:1909: the config sha256:[0-9a-f]{{12}}: "
                     "config is not an object", result.stdout)
    assert "unexpected" not in result.stderr and "Traceback" not in result.stdout + result.stderr
    # The other target went on (its bases are not in this mirror: it fails on its own, in its own line).
    assert "v4.1.2-windows-ltsc2022" in result.stdout


def test_publish_names_a_per_base_manifest_that_is_not_json(registry, mirrors, isolated_cache, tmp_path):
    release, nano_tag = BASES[-1].release, BASES[-1].nanoserver
    _skopeo("copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{registry.host}/mcr/windows/nanoserver:{nano_tag}",
            f"docker://{registry.host}/pubcorrupt/argoexec:{target_id(release)}")
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/manifests/{target_id(release)}$", "rewrite", times=None, rewrite=_flipped,
                           strip=("Docker-Content-Digest",)))
        result = invoke("publish", "--to", f"{proxy.host}/pubcorrupt/argoexec", "--no-linux",
                        "--docs", str(tmp_path / "docs"), "--readme", "", "--db", str(tmp_path / "r.sqlite"),
                        env=isolated_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (f"error: {proxy.host}/pubcorrupt/argoexec:{target_id(release)}: the manifest "
                                     "is not UTF-8 JSON (byte 0x84 at offset 0)")
    tags = requests.get(f"{registry.url}/v2/pubcorrupt/argoexec/tags/list", timeout=10).json().get("tags") or []
    assert tags == [target_id(release)]  # no index tag

VERSION_1909 = "10.0.18363.1556"


def _mirror_1909(registry, tmp_path, name: str, core_layers: list[dict], *, core_version: str = VERSION_1909,
                 nano_layers: list[dict] | None = None, nano_config: dict | None = None, **core_layout) -> str:
    """A hand-made 1909 servercore (``core_layers``; ``core_layout``: write_layout's pax and folders) and
    nanoserver pushed under REGISTRY/<name>/windows/...; the --mirror value that reads mcr.microsoft.com there."""
    work = tmp_path / "images"
    windows_images.write_layout(work / "core", core_layers, "windows", "amd64", core_version, **core_layout)
    windows_images.skopeo_copy(work / "core", f"{registry.host}/{name}/windows/servercore:1909")
    windows_images.write_layout(work / "nano", nano_layers or [{"Files/x": b"x"}], "windows", "amd64", VERSION_1909,
                                extra_config=nano_config)
    windows_images.skopeo_copy(work / "nano", f"{registry.host}/{name}/windows/nanoserver:1909")
    return f"mcr.microsoft.com={registry.host}/{name}"


def _assemble_1909(registry, binaries, isolated_cache, tmp_path, name: str, core_layers: list[dict], **layout):
    """Build 1909 from a servercore made of ``core_layers`` (``layout``: write_layout's pax and folders);
    the members of the produced netapi32 layer, by name, with the DLL's bytes under ``"dll"``."""
    mirror = _mirror_1909(registry, tmp_path, name, core_layers, **layout)
    repo = f"{registry.host}/{name}-out/argoexec"
    result = invoke("build", "--builder", "oci", "--base", "1909", "--to", repo, "--argoexec-exe", str(binaries),
                    "--results", str(tmp_path / "results"), "--mirror", mirror, env=isolated_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:v4.1.2-windows-1909"))
    with _layer_tar(registry, f"{name}-out/argoexec", manifest["layers"][1]["digest"]) as tar:
        members = {m.name: m for m in tar.getmembers()}
        return {**members, "dll": tar.extractfile(members["Files/Windows/System32/netapi32.dll"]).read()}


SYSTEM32_DLL = "Files/Windows/System32/netapi32.dll"
WINSXS_DLL = "Files/Windows/WinSxS/amd64_netapi32_10.0.18362.1556/netapi32.dll"
WINSXS_OLD_DLL = "Files/Windows/WinSxS/amd64_netapi32_10.0.18362.1/netapi32.dll"
DLL_SD = windows_images.descriptor("S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478465")
# The target's records. hcsshim's link entry carries the same attributes (one file, two names); the
# fixtures give it others, so that the test sees which entry the DLL's records come from.
DLL_RECORDS = {"MSWINDOWS.rawsd": DLL_SD, "MSWINDOWS.fileattr": "33"}


@pytest.mark.parametrize("shape", ["target in the same layer", "target in an older layer"])
def test_a_hard_linked_dll_has_its_targets_descriptor_and_attributes(registry, binaries, isolated_cache, tmp_path,
                                                                     shape):
    """servercore stores System32 DLLs as hard links to WinSxS. hcsshim's exporter writes a link entry with
    basic info only (MSWINDOWS.fileattr, no rawsd: pkg/ociwclayer/export.go writeTarFromLayer, go-winio
    backuptar.BasicInfoHeader); its importer makes the link a name of the target (internal/wclayer/legacy.go
    AddLink, which looks in parent layers too): the DLL is the target, with the target's descriptor."""
    link = {SYSTEM32_DLL: ("hardlink", WINSXS_DLL)}  # records by default: fileattr 32, no rawsd
    if shape == "target in the same layer":
        layers = [{WINSXS_DLL: b"MZ netapi32 1556", **link}]
    else:  # the base layer holds an older DLL at System32 (itself a link), the update layer only a link
        layers = [{WINSXS_OLD_DLL: b"MZ netapi32 1", WINSXS_DLL: b"MZ netapi32 1556",
                   SYSTEM32_DLL: ("hardlink", WINSXS_OLD_DLL)}, link]
    members = _assemble_1909(registry, binaries, isolated_cache, tmp_path, shape.replace(" ", "-"), layers,
                             pax={WINSXS_DLL: DLL_RECORDS})
    dll = members[SYSTEM32_DLL]
    assert members["dll"] == b"MZ netapi32 1556" and dll.isfile()
    assert {k: v for k, v in dll.pax_headers.items() if k.startswith("MSWINDOWS.")} == DLL_RECORDS


# Descriptors servercore's base layer gives C:\, C:\Windows and C:\Windows\System32, told apart by owner.
FOLDER_RECORDS = {
    folder: {"MSWINDOWS.rawsd": windows_images.descriptor(sid), "MSWINDOWS.fileattr": "16"}
    for folder, sid in (("Files", "S-1-5-18"), ("Files/Windows", "S-1-5-32-544"),
                        ("Files/Windows/System32", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478466"))}


@pytest.mark.parametrize("update_folders", ["none", "without a descriptor"])
def test_the_dlls_folders_keep_the_descriptors_servercore_gives_them(registry, binaries, isolated_cache, tmp_path,
                                                                      update_folders):
    """servercore as base + update layer, the update holding netapi32.dll but not its folders (or entries for
    them without MSWINDOWS.rawsd). hcsshim applies a folder entry's descriptor to the folder, so the layer's
    Files, Files/Windows and Files/Windows/System32 must carry the ones the base layer gives C:\\, C:\\Windows
    and System32, never BUILTIN\\Users'."""
    update = {SYSTEM32_DLL: b"MZ netapi32 update"}
    if update_folders == "none":
        layout = {"folders": [None, ("Hives",)], "pax": [FOLDER_RECORDS, {}]}
    else:
        layout = {"folders": [None, None],
                  "pax": [FOLDER_RECORDS, {folder: {"MSWINDOWS.fileattr": "16"} for folder in FOLDER_RECORDS}]}
    members = _assemble_1909(registry, binaries, isolated_cache, tmp_path, f"folders-{update_folders[:4]}",
                             [{SYSTEM32_DLL: b"MZ netapi32 base", "Files/Windows/System32/kernel32.dll": b"MZ k"},
                              update], **layout)
    assert members["dll"] == b"MZ netapi32 update"
    for folder, records in FOLDER_RECORDS.items():
        assert members[folder].isdir()
        assert {k: v for k, v in members[folder].pax_headers.items() if k.startswith("MSWINDOWS.")} == records
    assert members[SYSTEM32_DLL].pax_headers["MSWINDOWS.rawsd"] == windows_images.STANDIN_SD


def test_a_servercore_that_gives_no_descriptor_for_a_folder_is_refused(registry, binaries, isolated_cache,
                                                                       tmp_path):
    mirror = _mirror_1909(registry, tmp_path, "nofolders", [{SYSTEM32_DLL: b"MZ netapi32"}],
                          folders=("Files", "Hives"))
    result = invoke("build", "--builder", "oci", "--base", "1909", "--out", str(tmp_path / "layout"),
                    "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                    "--mirror", mirror, env=isolated_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gives a security descriptor for C:\\Windows, C:\\Windows\\System32;" in result.stdout
    assert not (tmp_path / "layout" / "index.json").exists()
    assert not list((tmp_path / "cache").rglob("*.dll"))


def test_a_tampered_base_layer_is_refused_and_nothing_is_cached(registry, mirrors, binaries, isolated_cache,
                                                                tmp_path):
    core = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{registry.host}/mcr/windows/servercore:2004"))
    top_layer = core["layers"][-1]["digest"]
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/mcr/windows/servercore/blobs/{top_layer}", "corrupt", times=None))
        result = invoke("build", "--builder", "oci", "--base", "2004", "--out", str(tmp_path / "layout"),
                        "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                        "--mirror", f"mcr.microsoft.com={proxy.host}/mcr", env=isolated_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"blob {top_layer} arrived with another digest" in result.stdout
    assert not list((tmp_path / "cache").rglob("*.dll"))
    assert not (tmp_path / "layout" / "index.json").exists()


def test_a_download_cut_off_is_retried(registry, mirrors, binaries, isolated_cache, tmp_path):
    nano = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{registry.host}/mcr/windows/nanoserver:20H2"))
    layer = nano["layers"][0]["digest"]
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{layer}", "drop", times=2))
        result = invoke("build", "--builder", "oci", "--base", "20H2", "--out", str(tmp_path / "layout"),
                        "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                        "--mirror", f"mcr.microsoft.com={proxy.host}/mcr", env=isolated_cache)
        drops = [s for m, p, s in proxy.state.log if s == -1]
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(drops) == 2
    assert (tmp_path / "layout" / "blobs" / "sha256" / layer[7:]).is_file()


def test_blobs_cut_off_midway_are_resumed_and_still_verified(registry, binaries, isolated_cache, tmp_path):
    """A download broken off halfway goes on with a Range request; the digest still covers every byte."""
    big = bytes(range(256)) * 64 + os.urandom(300_000)  # layers of several read chunks, incompressible
    dll = b"MZ netapi32 1909 " + big
    _mirror_1909(registry, tmp_path, "cut", [{"Files/Windows/System32/netapi32.dll": dll}],
                 nano_layers=[{"Files/big.bin": big}])
    core = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{registry.host}/cut/windows/servercore:1909"))["layers"][-1]["digest"]
    nano = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false",
                              f"docker://{registry.host}/cut/windows/nanoserver:1909"))["layers"][0]["digest"]

    def build(proxy):
        return invoke("build", "--builder", "oci", "--base", "1909", "--out", str(tmp_path / "layout"),
                      "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"),
                      "--mirror", f"mcr.microsoft.com={proxy.host}/cut", env=isolated_cache)

    # Cut once, then the rest arrives with a flipped byte: refused, nothing kept.
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{core}", "cut", times=1))
        proxy.inject(Fault("GET", rf"/blobs/{core}", "corrupt", times=1))
        refused = build(proxy)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"blob {core} arrived with another digest" in refused.stdout
    assert [s for m, p, s in proxy.state.log if p.endswith(core)] == [-2, 206]
    assert not (tmp_path / "layout" / "index.json").exists()

    # Cut once each: both resumed where they stopped, and the build succeeds.
    with FaultyProxy(registry.url) as proxy:
        proxy.inject(Fault("GET", rf"/blobs/{core}", "cut", times=1))
        proxy.inject(Fault("GET", rf"/blobs/{nano}", "cut", times=1))
        result = build(proxy)
    assert result.returncode == 0, result.stdout + result.stderr
    for digest in (core, nano):
        assert [s for m, p, s in proxy.state.log if p.endswith(digest)] == [-2, 206]
        (asked,) = [r for p, r in proxy.state.ranges if p.endswith(digest)]
        assert asked != "bytes=0-"
    layout = tmp_path / "layout"
    copied = layout / "blobs" / "sha256" / nano[7:]
    assert "sha256:" + hashlib.sha256(copied.read_bytes()).hexdigest() == nano
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    netapi = layout / "blobs" / "sha256" / manifest["layers"][1]["digest"][7:]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(netapi.read_bytes()))) as tar:
        assert tar.extractfile("Files/Windows/System32/netapi32.dll").read() == dll


def test_every_base_carries_the_one_compiled_binary(registry, mirrors, isolated_cache, tmp_path):
    """The default binary: argoexec.exe cross-compiled once (Debian's Go, a stand-in Argo tree with upstream's
    Makefile shape), the same app layer in every base's image, uploaded once, its sha256 in the labels."""
    for tool in ("go", "make", "git"):
        infra.require_binary(tool)
    standin = argo_standin.make_standin(tmp_path / "argo", tag=matrix_facts.NEWEST_ARGO)
    repo = f"{registry.host}/compiled/argoexec"
    mark = _log_mark(registry)
    result = invoke("build", "--builder", "oci", "--base", "all", "--to", repo, "--go", "local",
                    "--argo-git", f"file://{standin.path}", "--dist", str(tmp_path / "out"),
                    "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    exe = tmp_path / "out" / "dist" / "bin" / matrix_facts.NEWEST_ARGO / "windows-amd64" / "argoexec.exe"
    sha = hashlib.sha256(exe.read_bytes()).hexdigest()
    assert f"compiled argoexec sha256:{sha}" in result.stdout
    app_layers = set()
    for name in matrix_facts.RELEASE_NAMES:
        reference = f"docker://{repo}:{target_id(name)}"
        manifest = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", reference))
        app_layers.add(manifest["layers"][-1]["digest"])
        labels = json.loads(_skopeo("inspect", "--config", "--tls-verify=false", reference))["config"]["Labels"]
        assert labels["io.argoexec-builder.argoexec.sha256"] == f"sha256:{sha}"
        assert labels["io.argoexec-builder.argoexec.origin"] == "compiled"
        assert labels["org.opencontainers.image.revision"] == standin.commit  # what it was compiled from
    (app,) = app_layers
    with _layer_tar(registry, "compiled/argoexec", app) as tar:
        assert tar.extractfile("Files/app/argoexec.exe").read() == exe.read_bytes()
        assert "Files/app/7za.exe" not in tar.getnames()  # optional: none was given
    assert _blob_uploads(registry, "compiled/argoexec", mark).count(app) == 1
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert len(records) == len(matrix_facts.RELEASE_NAMES)
    assert all(r["argoexec"].startswith(f"compiled argoexec sha256:{sha}") for r in records)


def test_cache_files_that_cannot_be_read_are_made_again(registry, mirrors, isolated_cache, tmp_path):
    """Half-written cache files (a run of an older version killed while writing them) are misses: the build reads
    upstream's binary and servercore's netapi32.dll again and makes the same image, with no traceback."""
    def build(out: str):
        return invoke("build", "--builder", "oci", "--base", "ltsc2022", "--out", str(tmp_path / out),
                      "--binary", "upstream", "--results", str(tmp_path / "results"), *mirrors, env=isolated_cache)

    first = build("first")
    assert first.returncode == 0, first.stdout + first.stderr
    cache = tmp_path / "cache"
    damaged = [*cache.glob("upstream/*/files.json"), *cache.glob("netapi32-v2/*.pax.json"),
               *cache.glob("layers/*.json")]
    assert len(damaged) == 4  # upstream's files, netapi32's records, the netapi32 and app layers' indexes
    for path in damaged:
        path.write_text(path.read_text()[:9])
    again = build("again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    assert "reading argoexec.exe from" in again.stdout and "reading netapi32.dll from" in again.stdout
    manifests = [json.loads((tmp_path / out / "index.json").read_text())["manifests"] for out in ("first", "again")]
    assert manifests[0] == manifests[1]
    assert all(json.loads(path.read_text()) for path in damaged)  # and written whole again
