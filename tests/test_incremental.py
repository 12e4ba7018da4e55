"""Incremental builds: a target whose image at --to was made from the same inputs is skipped; a change
of any input (base digest, Argo commit, binary, Dockerfile or recipe, tool version) rebuilds it.

The oci builder runs against the suite's real registry with synthetic Windows bases (a mirror of
mcr.microsoft.com); the docker builder against the suite's real Linux engine, with a Linux flavour
(the only kind a Linux engine builds) pushed to the same registry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess

import pytest

import builder
from builder import render
from tests import evidence_keys, infra, windows_images
from tests.cli import invoke
from tests.matrix_facts import NEWEST_ARGO, target_id
from tests.test_build_smoke_push import LINUX, MATRIX, _records, compiled  # noqa: F401 (a fixture)
from tests.test_oci_build import _blob_uploads, _log_mark, _manifest_puts

BASES = ("1909", "ltsc2022")


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    import os
    return {**os.environ}


@pytest.fixture()
def bases(registry, tmp_path):
    """A mirror of its own (each test moves tags in it): nanoserver and servercore of every release."""
    prefix = f"inc{len(list(tmp_path.parent.iterdir()))}-{tmp_path.name[-12:].lower()}"
    prefix = re.sub(r"[^a-z0-9]", "", prefix)
    windows_images.push_windows_bases(registry.host, tmp_path / "bases", prefix=prefix)
    return prefix


def _exe(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MZ" + content)
    return path


def _build(registry, prefix, repo, exe, tmp_path, env, *extra):
    return invoke("build", "--builder", "oci", "--base", ",".join(BASES), "--to", repo, "--argoexec-exe", str(exe),
                  "--results", str(tmp_path / "results"), "--mirror", f"mcr.microsoft.com={registry.host}/{prefix}",
                  *extra, env=env)


def _skipped(stdout: str) -> set[str]:
    return {line.split()[1].rstrip(":") for line in stdout.splitlines() if line.startswith("skip ")}


def _rebuilt(stdout: str) -> dict[str, str]:
    """target -> the reason the run gave for building it."""
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"build (\S+): (.*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _labels(repo: str, tag: str) -> dict:
    skopeo = infra.require_binary("skopeo")
    config = subprocess.run([skopeo, "inspect", "--config", "--tls-verify=false", f"docker://{repo}:{tag}"],
                            check=True, capture_output=True, text=True).stdout
    return json.loads(config)["config"]["Labels"]


def test_an_unchanged_night_builds_nothing_and_pushes_nothing(registry, bases, isolated_cache, tmp_path):
    repo = f"{registry.host}/{bases}-out/argoexec"
    exe = _exe(tmp_path / "bin" / "argoexec.exe", b"argoexec one")
    first = _build(registry, bases, repo, exe, tmp_path, isolated_cache)
    assert first.returncode == 0, first.stdout + first.stderr
    assert set(_rebuilt(first.stdout)) == {target_id(b) for b in BASES}
    assert all(reason == "not published yet" for reason in _rebuilt(first.stdout).values())
    labels = _labels(repo, target_id("1909"))
    assert labels[builder.inputs.LABEL].startswith("sha256:")
    assert set(json.loads(labels[builder.inputs.LABEL_JSON])) == {"base", "commit", "binary", "recipe", "tool"}

    since = _log_mark(registry)
    again = _build(registry, bases, repo, exe, tmp_path, isolated_cache)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _skipped(again.stdout) == {target_id(b) for b in BASES}
    assert f"skip {target_id('1909')}: unchanged: {repo}:{target_id('1909')}@sha256:" in again.stdout
    assert _rebuilt(again.stdout) == {}
    assert _manifest_puts(registry, f"{bases}-out/argoexec", since) == 0
    assert _blob_uploads(registry, f"{bases}-out/argoexec", since) == []
    assert re.search(r"Builds: 2 unchanged", again.stdout), again.stdout
    # --force builds again (the same bytes: the registry already has them, so still nothing is uploaded).
    forced = _build(registry, bases, repo, exe, tmp_path, isolated_cache, "--force")
    assert forced.returncode == 0 and set(_rebuilt(forced.stdout).values()) == {"--force"}


def _swap_layer(repo: str, tag: str, index: int = -1) -> str:
    """Re-push ``repo:tag`` with layer ``index`` replaced by another layer, everything else (annotations, config
    and so its labels) unchanged, as anyone with push rights could: the new manifest's digest."""
    import gzip
    import io
    import tarfile

    from builder.registry import Reference, RegistryClient, sha256_digest

    client = RegistryClient()
    reference = Reference.parse(f"{repo}:{tag}")
    body, media_type, _ = client.find_manifest(reference)
    manifest = json.loads(body)
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        data = b"MZ not the executor you built"
        info = tarfile.TarInfo("Files/app/argoexec.exe")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    blob = gzip.compress(tar.getvalue(), mtime=0)
    client.push_blob(reference.registry, reference.repository, sha256_digest(blob), len(blob), lambda: blob)
    manifest["layers"][index] = {**manifest["layers"][index], "digest": sha256_digest(blob), "size": len(blob)}
    swapped = json.dumps(manifest).encode()
    client.put_manifest(reference, swapped, media_type)
    return sha256_digest(swapped)


def test_a_layer_swapped_under_unchanged_annotations_is_rebuilt(registry, bases, isolated_cache, tmp_path):
    repo = f"{registry.host}/{bases}-out/argoexec"
    exe = _exe(tmp_path / "bin" / "argoexec.exe", b"argoexec one")
    first = _build(registry, bases, repo, exe, tmp_path, isolated_cache)
    assert first.returncode == 0, first.stdout + first.stderr
    target = target_id("1909")
    honest = first.stdout.split(f"{repo}:{target}@", 1)[1].split()[0]
    labels = _labels(repo, target)
    swapped = _swap_layer(repo, target)
    assert _labels(repo, target) == labels  # the same inputs annotation and labels, another layer

    again = _build(registry, bases, repo, exe, tmp_path, isolated_cache)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _skipped(again.stdout) == {target_id("ltsc2022")}
    assert _rebuilt(again.stdout)[target] == (
        f"{repo}:{target}@{swapped[:19]} does not match its own inputs annotation: assembled from these inputs it "
        f"is {honest[:19]}, the registry holds {swapped[:19]}")
    # The rebuild put back what the inputs make; the next night skips it again.
    assert f"{repo}:{target}@{honest}" in again.stdout
    assert _skipped(_build(registry, bases, repo, exe, tmp_path, isolated_cache).stdout) == set(
        target_id(b) for b in BASES)


def test_each_changed_input_rebuilds_what_it_touches_and_says_which(registry, bases, isolated_cache, tmp_path,
                                                                    monkeypatch):
    repo = f"{registry.host}/{bases}-out/argoexec"
    exe = _exe(tmp_path / "bin" / "argoexec.exe", b"argoexec one")
    assert _build(registry, bases, repo, exe, tmp_path, isolated_cache).returncode == 0

    # Microsoft's monthly patch: the 1909 nanoserver tag moves to a new digest; ltsc2022 stays.
    work = tmp_path / "patched"
    windows_images.write_layout(work, [{"Files/Windows/System32/cmd.exe": b"MZ cmd patched"}], "windows", "amd64",
                                windows_images.os_version("1909").rsplit(".", 1)[0] + ".9999")
    windows_images.skopeo_copy(work, f"{registry.host}/{bases}/windows/nanoserver:1909")
    run = _build(registry, bases, repo, exe, tmp_path, isolated_cache)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _skipped(run.stdout) == {target_id("ltsc2022")}
    assert _rebuilt(run.stdout)[target_id("1909")].startswith("base image digest sha256:")

    # The servercore netapi32.dll comes from moves: the assembly recipe of that base changed.
    work = tmp_path / "core"
    os_version = windows_images.os_version("ltsc2022")
    windows_images.write_layout(work, [{"Files/Windows/System32/netapi32.dll": windows_images.netapi32_bytes(
        os_version, update=False) + b" patched"}], "windows", "amd64", os_version)
    windows_images.skopeo_copy(work, f"{registry.host}/{bases}/windows/servercore:ltsc2022")
    run = _build(registry, bases, repo, exe, tmp_path, isolated_cache)
    assert _skipped(run.stdout) == {target_id("1909")}
    assert _rebuilt(run.stdout)[target_id("ltsc2022")].startswith("Dockerfile or assembly recipe")

    # Another argoexec.exe: every image carries it.
    other = _exe(tmp_path / "bin2" / "argoexec.exe", b"argoexec two")
    run = _build(registry, bases, repo, other, tmp_path, isolated_cache)
    assert _skipped(run.stdout) == set()
    assert all(reason.startswith("argoexec binary") for reason in _rebuilt(run.stdout).values())

    # A new version of the tool (in this process: the version the label records).
    monkeypatch.setattr(builder, "__version__", "99.0.0")
    run = _build(registry, bases, repo, other, tmp_path, isolated_cache)
    assert all(reason.startswith("tool version") and "99.0.0" in reason for reason in _rebuilt(run.stdout).values())
    assert _labels(repo, target_id("1909"))[builder.inputs.LABEL_JSON].count("99.0.0+") == 1


def _compiled(folder, tag: str, exe_bytes: bytes, commit: str):
    """What `invoke compile --out FOLDER` leaves for a tag: the exe and its provenance (the keys it writes)."""
    exe = _exe(folder / "dist" / "bin" / tag / "windows-amd64" / "argoexec.exe", exe_bytes)
    import hashlib
    record = {"sha256": hashlib.sha256(exe.read_bytes()).hexdigest(), "git_commit": commit, "go_version": "go1.26.5"}
    exe.with_name("argoexec.exe.json").write_text(json.dumps(record))
    return folder


def test_another_argo_commit_rebuilds_even_with_the_same_binary(registry, bases, isolated_cache, tmp_path):
    repo = f"{registry.host}/{bases}-out/argoexec"
    mirror = ("--mirror", f"mcr.microsoft.com={registry.host}/{bases}")
    first = _compiled(tmp_path / "c1", NEWEST_ARGO, b"same bytes", "a" * 40)
    common = ("build", "--builder", "oci", "--base", "1909", "--to", repo, "--results", str(tmp_path / "r"), *mirror)
    assert invoke(*common, "--compiled", str(first), env=isolated_cache).returncode == 0
    assert _labels(repo, target_id("1909"))["org.opencontainers.image.revision"] == "a" * 40
    second = _compiled(tmp_path / "c2", NEWEST_ARGO, b"same bytes", "b" * 40)
    run = invoke(*common, "--compiled", str(second), env=isolated_cache)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _rebuilt(run.stdout)[target_id("1909")] == f"Argo commit {'a' * 24} -> {'b' * 24}"


def test_force_without_to_is_bad_input(tmp_path):
    result = invoke("build", "--builder", "oci", "--base", "1909", "--force", "--out", str(tmp_path / "oci"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --force rebuilds what --to already holds; without --to every target is "
                                     "built anyway")


# -- the docker builder: a Linux flavour on the suite's Linux engine ----------------------------


@pytest.fixture()
def linux_matrix(tmp_path, base_image):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX + LINUX)
    return path


def test_the_docker_builder_pushes_with_to_and_skips_what_is_unchanged(docker_engine, registry, linux_matrix,
                                                                        compiled, tmp_path, monkeypatch):
    exe = compiled(NEWEST_ARGO)
    repo = f"{registry.host}/incremental-docker/argoexec"
    args = ("build", "--matrix", str(linux_matrix), "--engine", docker_engine.url, "--repo", "inc/argoexec",
            "--base", "amd64", "--argoexec-exe", str(exe), "--to", repo, "--results", str(tmp_path / "results"))
    first = invoke(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    record = next(r for r in _records(tmp_path / "results") if r["check"] == "build")
    # The record names the pushed image by its registry digest: what smoke pulls and evidence hangs on.
    assert record["image"] == f"{repo}:{NEWEST_ARGO}-linux-amd64"
    assert record["image_digest"].startswith("sha256:")
    assert _labels(repo, f"{NEWEST_ARGO}-linux-amd64")[builder.inputs.LABEL].startswith("sha256:")

    again = invoke(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _skipped(again.stdout) == {f"{NEWEST_ARGO}-linux-amd64"}

    # A layer swapped in the registry under the same labels: the published layers are not those its config names.
    _swap_layer(repo, f"{NEWEST_ARGO}-linux-amd64")
    swapped = invoke(*args)
    assert swapped.returncode == 0, swapped.stdout + swapped.stderr
    reason = _rebuilt(swapped.stdout)[f"{NEWEST_ARGO}-linux-amd64"]
    assert "does not match its own inputs annotation: layer " in reason and "is not the layer its config names" \
        in reason, reason
    assert _skipped(invoke(*args).stdout) == {f"{NEWEST_ARGO}-linux-amd64"}

    # A template change reaches the image through the rendered Dockerfile.
    templates = tmp_path / "templates"
    templates.mkdir()
    for source in render.TEMPLATES.glob("*.j2"):
        (templates / source.name).write_text(source.read_text() + "\n# changed\n")
    original = render.render_linux
    monkeypatch.setattr(render, "render_linux", lambda *a, **k: original(*a, **{**k, "templates": templates}))
    changed = invoke(*args)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert _rebuilt(changed.stdout)[f"{NEWEST_ARGO}-linux-amd64"].startswith("Dockerfile or assembly recipe")


def test_smoke_skips_an_image_already_verified_on_this_runner_and_host(docker_engine, registry, linux_matrix,
                                                                       compiled, tmp_path):
    from builder import evidence
    from builder.registry import Reference, RegistryClient

    repo = f"{registry.host}/incremental-smoke/argoexec"
    target = f"{NEWEST_ARGO}-linux-amd64"
    trusting = evidence_keys.trusting_matrix(tmp_path / "trusting", source=linux_matrix)
    common = ("--matrix", str(trusting), "--engine", docker_engine.url, "--base", "amd64")
    built = invoke("build", *common, "--repo", "inc/argoexec", "--argoexec-exe", str(compiled(NEWEST_ARGO)),
                   "--to", repo, "--results", str(tmp_path / "built"))
    assert built.returncode == 0, built.stdout + built.stderr

    def smoke(runner: str, folder: str):
        return invoke("smoke", *common, "--repo", repo, "--runner", runner, "--network", "none", "--results",
                      str(tmp_path / folder), "--skip-verified")

    first = smoke("r1", "night1")  # nothing verified yet: every check runs
    assert first.returncode == 0, first.stdout + first.stderr
    records = _records(tmp_path / "night1")
    assert {r["check"] for r in records} == set(builder.checks.smoke_names("linux"))
    # What publish does with them: pushed beside the image.
    client = RegistryClient()
    reference = Reference.parse(f"{repo}:{target}")
    subject, _ = evidence.subject_of(client, reference)
    # Signed by a key the matrix does not trust: it does not count, so the checks run again.
    evidence.push_evidence(client, Reference.parse(repo), subject, records, evidence_keys.STRANGER)
    assert _skipped(smoke("r1", "night1b").stdout) == set()
    evidence.push_evidence(client, Reference.parse(repo), subject, records, evidence_keys.SIGNER)

    again = smoke("r1", "night2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"skip {target}: verified " in again.stdout and "on r1 (host linux, default isolation)" in again.stdout
    assert not (tmp_path / "night2").exists() or _records(tmp_path / "night2") == []
    # Another runner has verified nothing: it runs the checks.
    other = smoke("r2", "night2-r2")
    assert other.returncode == 0 and len(_records(tmp_path / "night2-r2")) == len(records)
    # A failed check is no verification: the next night runs them again.
    newer = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = [{**r, "status": "fail", "started_at": newer} if r["check"] == records[0]["check"]
              else r for r in records]
    evidence.push_evidence(client, Reference.parse(repo), subject, failed, evidence_keys.SIGNER)
    assert _skipped(smoke("r1", "night3").stdout) == set()


def test_skip_verified_needs_a_registry_repo(tmp_path):
    result = invoke("smoke", "--base", "1809", "--skip-verified", "--repo", "local/argoexec", "--engine",
                    "unix:///nonexistent.sock")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --skip-verified reads the evidence kept in a registry: --repo "
                                            "local/argoexec names none")


def test_a_dry_run_says_what_would_be_built_or_skipped_and_touches_nothing(registry, bases, isolated_cache,
                                                                           tmp_path):
    repo = f"{registry.host}/{bases}-out/argoexec"
    exe = _exe(tmp_path / "bin" / "argoexec.exe", b"argoexec one")
    assert _build(registry, bases, repo, exe, tmp_path, isolated_cache).returncode == 0
    since = _log_mark(registry)
    other = _exe(tmp_path / "bin2" / "argoexec.exe", b"argoexec two")
    (tmp_path / "results").mkdir(exist_ok=True)
    records_before = sorted((tmp_path / "results").iterdir())
    dry = invoke("build", "--builder", "oci", "--base", "1909", "--to", repo, "--argoexec-exe", str(other),
                 "--results", str(tmp_path / "results"), "--mirror", f"mcr.microsoft.com={registry.host}/{bases}",
                 "--dry-run", env=isolated_cache)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would build {target_id('1909')}: argoexec binary " in dry.stdout
    assert dry.stdout.strip().endswith("dry run: nothing was built, pushed or written")
    same = _build(registry, bases, repo, exe, tmp_path, isolated_cache, "--dry-run")
    assert f"would skip {target_id('1909')}: unchanged: " in same.stdout
    # Nothing written: no manifest, no blob, no record.
    assert _manifest_puts(registry, f"{bases}-out/argoexec", since) == 0
    assert _blob_uploads(registry, f"{bases}-out/argoexec", since) == []
    assert sorted((tmp_path / "results").iterdir()) == records_before
    # Without a binary at hand it says it would compile one, and compiles nothing.
    nothing = invoke("build", "--builder", "oci", "--base", "1909", "--dist", str(tmp_path / "dist"), "--out",
                     str(tmp_path / "layout"), "--dry-run", env=isolated_cache)
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr
    assert f"{NEWEST_ARGO}: argoexec.exe would be compiled (`invoke compile`)" in nothing.stdout
    assert not (tmp_path / "dist").exists() and not (tmp_path / "layout").exists()


def test_push_dry_run_checks_the_images_and_pushes_nothing(docker_engine, registry, linux_matrix, compiled,
                                                           tmp_path):
    common = ("--matrix", str(linux_matrix), "--engine", docker_engine.url, "--base", "amd64", "--repo",
              "dry/argoexec")
    built = invoke("build", *common, "--argoexec-exe", str(compiled(NEWEST_ARGO)), "--results", str(tmp_path / "r"))
    assert built.returncode == 0, built.stdout + built.stderr
    repo = f"{registry.host}/push-dry-run/argoexec"
    dry = invoke("push", *common, "--to", repo, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would push dry/argoexec:{NEWEST_ARGO}-linux-amd64 (image sha256:" in dry.stdout
    assert dry.stdout.strip().endswith("dry run: nothing was tagged or pushed")
    import requests
    assert requests.get(f"{registry.url}/v2/push-dry-run/argoexec/tags/list", timeout=10).status_code == 404
    missing = invoke("push", "--matrix", str(linux_matrix), "--engine", docker_engine.url, "--base", "amd64",
                     "--repo", "never/built", "--to", repo, "--dry-run")
    assert missing.returncode == 2 and "is not on the engine; run `invoke build` for it first" in missing.stderr


def test_the_source_label_names_the_argo_git_the_image_was_built_from(registry, bases, isolated_cache, tmp_path):
    repo = f"{registry.host}/{bases}-fork/argoexec"
    exe = _exe(tmp_path / "bin" / "argoexec.exe", b"argoexec fork")
    fork = "https://git.example/someone/argo-workflows.git"
    built = _build(registry, bases, repo, exe, tmp_path, isolated_cache, "--argo-git", fork)
    assert built.returncode == 0, built.stdout + built.stderr
    assert _labels(repo, target_id("1909"))["org.opencontainers.image.source"] == fork
