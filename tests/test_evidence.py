"""Evidence that travels with the image (builder/evidence.py, `invoke evidence`).

Against the suite's real registry (Debian's docker-registry 2.8, which has no referrers API, so the
referrers tag schema is what lists the artifacts; skopeo reads what was written), and against
tests/referrers_proxy.py in front of it, a stand-in for a registry with the OCI distribution spec
1.1 referrers API. Images are synthetic (tests/windows_images.py), pushed with skopeo.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from builder import evidence, signing
from builder.evidence import ARTIFACT_TYPE, Descriptor
from builder.registry import OCI_INDEX, OCI_MANIFEST, Reference, RegistryClient, sha256_digest
from tests import evidence_keys, infra
from tests.cli import invoke
from tests.faulty_proxy import FaultyProxy
from tests.referrers_proxy import ReferrersProxy
from tests.windows_images import skopeo_copy, write_layout

# The empty descriptor's blob and digest as the OCI image spec gives them (manifest.md, "Guidance for an
# Empty Descriptor").
SPEC_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
PASSWORD = "evidence-Passw0rd-xyz"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))


def record(check="argoexec-version", status="pass", runner="ws2019", host="10.0.17763", isolation="process",
           started="2026-03-01T10:00:00Z", target="v4.1.2-windows-1809", log="ok", **extra) -> dict:
    return {"target": target, "argo": "v4.1.2", "os": "windows", "base": target.rsplit("-", 1)[1],
            "image_os_version": "10.0.17763.6893", "image": f"reg.example/argoexec:{target}",
            "image_digest": "sha256:" + "c" * 64, "host_os_version": host, "runner": runner,
            "engine_version": "24.0.7", "isolation": isolation, "check": check, "status": status,
            "started_at": started, "duration_s": 1.5, "log_excerpt": log, "tool_version": "0.1.0", **extra}


def push(client, repo, subject, records, **kwargs):
    """Push ``records`` about ``subject`` signed by the maintainer's key: each record's image_digest is set to
    the subject's (in place), as the records of an image are."""
    for item in records:
        item["image_digest"] = subject.digest
    return evidence.push_evidence(client, repo, subject, records, evidence_keys.SIGNER, **kwargs)


def read(client, repo, digest, problems=None):
    return evidence.read_evidence(client, repo, digest, problems, trusted=evidence_keys.TRUSTED)


# ---------------------------------------------------------------------------------------------
# The documents (no registry)


@pytest.mark.parametrize(("digest", "tag"), [
    ("sha256:" + "a" * 64, "sha256-" + "a" * 64),
    ("sha512:" + "a" * 128, "sha512-" + "a" * 64),
    # The spec's own example of truncation and replacement (spec.md, "Referrers Tag Schema").
    ("test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:"
     "alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation",
     "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot"),
])
def test_the_referrers_tag_follows_the_schema(digest, tag):
    assert evidence.referrers_tag(digest) == tag


def test_the_artifact_is_an_image_manifest_with_the_empty_config_and_one_records_layer():
    subject = Descriptor(OCI_MANIFEST, "sha256:" + "b" * 64, 418)
    records = evidence.merge([record(), record(check="hello-windows", started="2026-03-02T10:00:00+02:00")])
    # Ed25519 signatures are deterministic (ECDSA's are not): the same records give the same bytes.
    manifest_bytes, layer = evidence.artifact_manifest(subject, records, evidence_keys.ED_SIGNER, "reg.example/a")
    manifest = json.loads(manifest_bytes)
    assert evidence.EMPTY_DESCRIPTOR["digest"] == SPEC_EMPTY_DIGEST and evidence.EMPTY_BLOB == b"{}"
    assert manifest["artifactType"] == ARTIFACT_TYPE and manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json", "digest": SPEC_EMPTY_DIGEST,
                                  "size": 2}
    assert manifest["layers"] == [{"mediaType": "application/vnd.dsse.envelope.v1+json",
                                   "digest": sha256_digest(layer), "size": len(layer)}]
    assert manifest["subject"] == {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "b" * 64, "size": 418}
    # created: the newest record's time, in UTC.
    assert manifest["annotations"] == {"org.opencontainers.image.created": "2026-03-02T08:00:00Z",
                                       "io.argoexec-builder.records": "2"}
    envelope = json.loads(layer)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement == {"_type": "https://in-toto.io/Statement/v1",
                         "subject": [{"name": "reg.example/a", "digest": {"sha256": "b" * 64}}],
                         "predicateType": signing.PREDICATE_TYPE, "predicate": {"records": records}}
    assert [s["keyid"] for s in envelope["signatures"]] == [evidence_keys.ED_SIGNER.keyid]
    # The same records in any order give the same bytes.
    again = evidence.artifact_manifest(subject, evidence.merge(reversed(records)), evidence_keys.ED_SIGNER,
                                       "reg.example/a")
    assert again[0] == manifest_bytes


def test_merge_keeps_the_newest_record_of_each_check_runner_host_isolation_and_target():
    old, new = record(status="fail", started="2026-03-01T10:00:00Z"), record(started="2026-03-01T12:00:00+01:00")
    other_host = record(host="10.0.20348", isolation="hyperv")
    merged = evidence.merge([new, other_host, old])
    assert merged == evidence.merge([old, new, other_host])
    assert len(merged) == 2 and new in merged and old not in merged and other_host in merged


# ---------------------------------------------------------------------------------------------
# `invoke evidence`: bad input without any registry


def test_a_malformed_reference_is_exit_2_in_one_line():
    for ref in ("NOT A REF", "127.0.0.1:5000/repo", "127.0.0.1:5000/repo@sha256:abc"):
        result = invoke("evidence", ref)
        assert result.returncode == 2, (ref, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: REF: ")


def test_a_reference_with_a_password_is_refused_without_showing_it():
    result = invoke("evidence", f"user:{PASSWORD}@127.0.0.1:5000/suite/app:1")
    assert result.returncode == 2
    assert PASSWORD not in result.stdout + result.stderr and "***@127.0.0.1:5000/suite/app:1" in result.stderr


def test_an_unknown_format_is_exit_2():
    result = invoke("evidence", "127.0.0.1:5000/suite/app:1", "--format", "yaml")
    assert result.returncode == 2 and result.stderr.strip() == "error: --format yaml: expected text or json"


def test_an_unreachable_registry_is_exit_4():
    port = infra.free_port()
    result = invoke("evidence", f"127.0.0.1:{port}/suite/app:1")
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: registry 127.0.0.1:{port}: ")


# ---------------------------------------------------------------------------------------------
# Against the real registry: the referrers tag schema


def push_image(registry_host: str, work: Path, repository: str, tag: str, content: bytes,
               os_version: str = "10.0.17763.6893", os_name: str = "windows") -> Descriptor:
    layout = work / f"layout-{repository.replace('/', '-')}-{tag}"
    write_layout(layout, [{"Files/app.txt": content}], os_name, "amd64", os_version if os_name == "windows" else None)
    skopeo_copy(layout, f"{registry_host}/{repository}:{tag}")
    subject, _ = evidence.subject_of(RegistryClient(), Reference.parse(f"{registry_host}/{repository}:{tag}"))
    return subject


def skopeo_raw(ref: str) -> dict:
    skopeo = infra.require_binary("skopeo")
    return json.loads(subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                                     check=True, capture_output=True, text=True).stdout)


def manifest_puts(registry) -> int:
    return len(re.findall(r'"PUT /v2/[^ "]*/manifests/', registry.requests_log()))


def _foreign_sbom(client: RegistryClient, repo: Reference, subject: Descriptor, sbom: bytes) -> dict:
    """Another tool's artifact for the same image (an SBOM, say), pushed as that tool would; its descriptor."""
    client.push_blob(repo.registry, repo.repository, sha256_digest(sbom), len(sbom), lambda: sbom)
    client.push_blob(repo.registry, repo.repository, evidence.EMPTY_DESCRIPTOR["digest"], 2, lambda: b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "artifactType": "application/vnd.example.sbom", "config": evidence.EMPTY_DESCRIPTOR,
                           "layers": [{"mediaType": "application/json", "digest": sha256_digest(sbom),
                                       "size": len(sbom)}],
                           "subject": subject.to_json()}).encode()
    digest = client.put_manifest(Reference(repo.registry, repo.repository, None, sha256_digest(manifest)), manifest,
                                 OCI_MANIFEST)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
            "artifactType": "application/vnd.example.sbom"}


def push_foreign_referrer(client: RegistryClient, repo: Reference, subject: Descriptor) -> dict:
    """An SBOM listed in the referrers tag, as its tool would list it."""
    descriptor = {**_foreign_sbom(client, repo, subject, b'{"sbom": true}'),
                  "annotations": {"com.example.kind": "sbom"}}
    tag = repo.with_tag(evidence.referrers_tag(subject.digest))
    found = client.find_manifest(tag, accept=OCI_INDEX)
    index = json.loads(found[0]) if found else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"].append(descriptor)
    client.put_manifest(tag, json.dumps(index).encode(), OCI_INDEX)
    return descriptor


def test_evidence_is_pushed_beside_the_image_and_listed_in_the_referrers_tag(registry, tmp_path):
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-tag")
    subject = push_image(registry.host, tmp_path, "suite/evidence-tag", "1", b"image one")
    first = record()
    pushed = push(client, repo, subject, [first])
    assert pushed.changed and pushed.via == evidence.TAG and pushed.records == 1
    assert client.get_referrers(registry.host, "suite/evidence-tag", subject.digest, ARTIFACT_TYPE) is None

    # skopeo sees the referrers tag's index listing the artifact, and the artifact's subject, type and config.
    tag = f"sha256-{subject.digest[7:]}"
    listed = skopeo_raw(f"{registry.host}/suite/evidence-tag:{tag}")
    assert listed["mediaType"] == OCI_INDEX
    assert listed["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": str(pushed),
                                    "size": listed["manifests"][0]["size"], "artifactType": ARTIFACT_TYPE,
                                    "annotations": {"org.opencontainers.image.created": "2026-03-01T10:00:00Z",
                                                    "io.argoexec-builder.records": "1"}}]
    artifact = skopeo_raw(f"{registry.host}/suite/evidence-tag@{pushed}")
    assert artifact["subject"] == subject.to_json()
    assert artifact["artifactType"] == ARTIFACT_TYPE
    assert artifact["config"] == {"mediaType": "application/vnd.oci.empty.v1+json", "digest": SPEC_EMPTY_DIGEST,
                                  "size": 2}
    assert client.get_blob(registry.host, "suite/evidence-tag", SPEC_EMPTY_DIGEST) == b"{}"
    assert read(client, repo, subject.digest) == [first]
    assert [d["digest"] for d in evidence.find_evidence(client, repo, subject.digest)] == [str(pushed)]


def test_more_evidence_is_the_union_and_replaces_what_it_supersedes(registry, tmp_path):
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-union")
    subject = push_image(registry.host, tmp_path, "suite/evidence-union", "1", b"image union")
    first = push(client, repo, subject, [record(status="fail")])
    sbom = push_foreign_referrer(client, repo, subject)

    # A new check and a newer run of the first: the new artifact holds both, newest per identity.
    hello, rerun = record(check="hello-windows"), record(started="2026-03-05T10:00:00Z")
    second = push(client, repo, subject, [hello, rerun])
    assert second.changed and second.superseded == (str(first),)
    assert read(client, repo, subject.digest) == [hello, rerun]
    layer = skopeo_raw(f"{registry.host}/suite/evidence-union@{second}")["layers"][0]
    envelope = json.loads(client.get_blob(registry.host, "suite/evidence-union", layer["digest"]))
    assert json.loads(base64.b64decode(envelope["payload"]))["predicate"]["records"] == [hello, rerun]
    # The index lists the new artifact, not the one it supersedes, and keeps the other tool's untouched.
    index = skopeo_raw(f"{registry.host}/suite/evidence-union:sha256-{subject.digest[7:]}")
    assert [m["digest"] for m in index["manifests"]] == [sbom["digest"], str(second)]
    assert index["manifests"][0] == sbom

    # The same records again, or an older run of a check already there: nothing is pushed.
    puts = manifest_puts(registry)
    again = push(client, repo, subject, [hello, record(status="fail")])
    assert not again.changed and str(again) == str(second)
    assert manifest_puts(registry) == puts


def test_evidence_for_another_image_is_separate(registry, tmp_path):
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-two")
    one = push_image(registry.host, tmp_path, "suite/evidence-two", "1", b"image A")
    two = push_image(registry.host, tmp_path, "suite/evidence-two", "2", b"image B")
    assert one.digest != two.digest
    push(client, repo, one, [record()])
    assert read(client, repo, two.digest) == []
    push(client, repo, two, [record(runner="ws2022", host="10.0.20348")])
    assert [r["runner"] for r in read(client, repo, one.digest)] == ["ws2019"]
    assert [r["runner"] for r in read(client, repo, two.digest)] == ["ws2022"]


def test_a_bad_artifact_is_reported_and_the_others_read(registry, tmp_path):
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-bad")
    subject = push_image(registry.host, tmp_path, "suite/evidence-bad", "1", b"image bad")
    good = record()
    push(client, repo, subject, [good])
    # An artifact of our type whose layer holds a record the store refuses, listed in the tag as ours.
    broken = [record(check="no-such-check")]
    manifest, layer = evidence.artifact_manifest(subject, broken)
    client.push_blob(registry.host, repo.repository, sha256_digest(layer), len(layer), lambda: layer)
    client.put_manifest(Reference(registry.host, repo.repository, None, sha256_digest(manifest)), manifest,
                        OCI_MANIFEST)
    tag = repo.with_tag(evidence.referrers_tag(subject.digest))
    index = json.loads(client.get_manifest(tag)[0])
    index["manifests"].append(evidence.referrer_descriptor(manifest))
    client.put_manifest(tag, json.dumps(index).encode(), OCI_INDEX)

    problems: list[str] = []
    assert read(client, repo, subject.digest, problems) == [good]
    assert problems == [f"{registry.host}/suite/evidence-bad@{sha256_digest(manifest)}: record 0: check "
                        "'no-such-check' is not one of " + problems[0].split("is not one of ", 1)[1]]
    # A push still works, and keeps the bad artifact listed (its records could not be carried over).
    pushed = push(client, repo, subject, [record(check="hello-windows")])
    assert pushed.changed
    listed = [m["digest"] for m in evidence.find_evidence(client, repo, subject.digest)]
    assert sha256_digest(manifest) in listed and str(pushed) in listed and len(listed) == 2


def test_a_second_read_costs_one_request_per_image(registry, tmp_path):
    repo_name = "suite/evidence-cache"
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image cache")
    push(RegistryClient(), Reference.parse(f"{registry.host}/{repo_name}"), subject,
                           [record(), record(check="hello-windows")])
    shutil.rmtree(tmp_path / "cache")  # read where it was not pushed from
    with FaultyProxy(registry.url) as proxy:
        client = RegistryClient()
        repo = Reference.parse(f"{proxy.host}/{repo_name}")
        assert len(read(client, repo, subject.digest)) == 2
        first = list(proxy.state.log)
        proxy.state.log.clear()
        assert len(read(client, repo, subject.digest)) == 2
        # The referrers API's 404 is remembered for the repository; the artifact and its layer come from the cache.
        assert [(m, p) for m, p, _ in proxy.state.log] == [("GET", f"/v2/{repo_name}/manifests/sha256-"
                                                                   f"{subject.digest[7:]}")]
    assert [s for m, p, s in first if "/referrers/" in p] == [404]
    assert any(p.startswith(f"/v2/{repo_name}/blobs/") for _, p, _ in first)


# ---------------------------------------------------------------------------------------------
# With the referrers API (tests/referrers_proxy.py: distribution spec 1.1 "Listing Referrers" and
# "Pushing Manifests with Subject" in front of the real registry)


def _tags(registry, repository: str) -> list[str]:
    import requests

    return requests.get(f"{registry.url}/v2/{repository}/tags/list", timeout=10).json().get("tags") or []


def test_a_registry_with_the_referrers_api_keeps_the_list_itself(registry, tmp_path):
    repo_name = "suite/evidence-api"
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image api")
    with ReferrersProxy(registry.url, apply_filter=False) as proxy:
        client = RegistryClient()
        repo = Reference.parse(f"{proxy.host}/{repo_name}")
        foreign = push_foreign_referrer_by_api(client, repo, subject)
        first = push(client, repo, subject, [record()])
        assert first.changed and first.via == evidence.API
        second = push(client, repo, subject, [record(check="hello-windows",
                                                                       started="2026-03-01T11:00:00Z")])
        assert second.via == evidence.API and second.superseded == ()
        # No referrers tag was written: the registry lists the referrers.
        assert _tags(registry, repo_name) == ["1"]
        # The registry ignored the artifactType filter (allowed): the other tool's artifact is filtered out here.
        listed = evidence.find_evidence(client, repo, subject.digest)
        assert [d["digest"] for d in listed] == [str(first), str(second)]
        assert foreign["digest"] not in [d["digest"] for d in listed]
        proxy.log.clear()
        fresh = RegistryClient()
        found = evidence.load_evidence(fresh, repo, subject.digest, evidence_keys.TRUSTED)
        assert found.via == evidence.API
        assert [r["check"] for r in found.records] == ["argoexec-version", "hello-windows"]
        # Read through the referrers endpoint, the rest from the cache: one request.
        assert [(m, p.split("?")[0]) for m, p, _ in proxy.log] == [("GET", f"/v2/{repo_name}/referrers/"
                                                                          f"{subject.digest}")]
        # Unfiltered: today's unsigned artifacts are listed too (to be shown as not counted).
        assert "artifactType=" not in proxy.log[0][1]
        # Nothing new: nothing pushed.
        proxy.log.clear()
        assert not push(client, repo, subject, [record()]).changed
        assert not [p for m, p, _ in proxy.log if m == "PUT"]


def push_foreign_referrer_by_api(client: RegistryClient, repo: Reference, subject: Descriptor) -> dict:
    """An SBOM pushed to a registry that lists referrers itself."""
    return _foreign_sbom(client, repo, subject, b'{"sbom": 1}')


def test_the_referrers_list_is_read_across_pages(registry, tmp_path):
    repo_name = "suite/evidence-pages"
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image pages")
    with ReferrersProxy(registry.url, page_size=1) as proxy:
        client = RegistryClient()
        repo = Reference.parse(f"{proxy.host}/{repo_name}")
        for check in ("argoexec-version", "hello-windows", "emissary-exit-code"):
            push(client, repo, subject, [record(check=check)])
        index = client.get_referrers(proxy.host, repo_name, subject.digest, ARTIFACT_TYPE)
        assert len(index["manifests"]) == 3
        assert len([p for m, p, _ in proxy.log if "/referrers/" in p]) >= 3
        assert len(read(client, repo, subject.digest)) == 3


# ---------------------------------------------------------------------------------------------
# `invoke evidence` against the real registry


def trusted_matrix(tmp_path) -> str:
    """The project's matrix, trusting the test keys: what decides which evidence counts."""
    return str(evidence_keys.trusting_matrix(tmp_path / "trusting"))


def show(tmp_path, *args, env):
    """`invoke evidence ARGS` with the trusting matrix."""
    return invoke("evidence", "--matrix", trusted_matrix(tmp_path), *args, env=env)


def _env(tmp_path, config: dict | None = None) -> dict:
    env = {**os.environ, "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")}
    if config is not None:
        folder = tmp_path / "docker-config"
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(json.dumps(config))
        env["DOCKER_CONFIG"] = str(folder)
    return env


def test_invoke_evidence_shows_what_was_verified_for_that_image(registry, tmp_path):
    repo_name = "suite/evidence-cli"
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image cli")
    repo = Reference.parse(f"{registry.host}/{repo_name}")
    pushed = push(RegistryClient(), repo, subject, [
        record(), record(check="hello-windows", status="fail", runner="ws2022", host="10.0.20348",
                         isolation="hyperv", started="2026-03-02T09:30:00Z")])
    ref = f"{registry.host}/{repo_name}:1"
    for given in (ref, f"{registry.host}/{repo_name}@{subject.digest}", f"{ref}@{subject.digest}"):
        result = show(tmp_path, given, env=_env(tmp_path))
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith(f"evidence for {registry.host}/{repo_name}")
        assert lines[0].endswith(f"@{subject.digest} (1 artifact(s), found through the referrers tag)")
        assert lines[1].split() == ["check", "status", "runner", "host", "os.version", "isolation", "engine", "date",
                                    "counted"]
        assert lines[2].split() == ["argoexec-version", "pass", "ws2019", "10.0.17763", "process", "24.0.7",
                                    "2026-03-01T10:00:00Z", "yes"]
        assert lines[3].split() == ["hello-windows", "fail", "ws2022", "10.0.20348", "hyperv", "24.0.7",
                                    "2026-03-02T09:30:00Z", "yes"]
        assert lines[4] == "2 records counted: 1 fail, 1 pass"

    result = show(tmp_path, ref, "--format", "json", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["reference"] == f"{ref}@{subject.digest}"
    assert document["subject"] == subject.to_json() and document["via"] == evidence.TAG
    assert [a["digest"] for a in document["artifacts"]] == [str(pushed)]
    assert [r["check"] for r in document["records"]] == ["argoexec-version", "hello-windows"]
    assert document["problems"] == []


def test_invoke_evidence_of_an_index_shows_each_windows_image(registry, tmp_path):
    repo_name = "suite/evidence-index"
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/{repo_name}")
    old = push_image(registry.host, tmp_path, repo_name, "v4.1.2-windows-1809", b"1809", "10.0.17763.6893")
    new = push_image(registry.host, tmp_path, repo_name, "v4.1.2-windows-ltsc2022", b"2022", "10.0.20348.2966")
    linux = push_image(registry.host, tmp_path, repo_name, "linux", b"linux", os_name="linux")
    windows = {"architecture": "amd64", "os": "windows"}
    entries = [{**new.to_json(), "platform": {**windows, "os.version": "10.0.20348.2966"}},
               {**old.to_json(), "platform": {**windows, "os.version": "10.0.17763.6893"}},
               {**linux.to_json(), "platform": {"architecture": "amd64", "os": "linux"}}]
    client.put_manifest(repo.with_tag("v4.1.2"), json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                             "manifests": entries}).encode(), OCI_INDEX)
    push(client, repo, old, [record()])

    result = show(tmp_path, f"{registry.host}/{repo_name}:v4.1.2", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "is an index with 2 Windows image(s)" in out.splitlines()[0]
    assert f"== windows/amd64 10.0.20348.2966 {new.digest} ==" in out
    assert f"== windows/amd64 10.0.17763.6893 {old.digest} ==" in out
    assert f"no evidence for {registry.host}/{repo_name}@{new.digest}: nothing verified yet" in out
    assert out.index("10.0.20348.2966") < out.index("10.0.17763.6893")
    assert linux.digest not in out
    assert out.splitlines()[-1] == "1 record for 1 of 2 Windows image(s)"

    result = show(tmp_path, f"{registry.host}/{repo_name}:v4.1.2", "--format", "json", env=_env(tmp_path))
    images = json.loads(result.stdout)["images"]
    assert [i["platform"]["os.version"] for i in images] == ["10.0.20348.2966", "10.0.17763.6893"]
    assert [len(i["records"]) for i in images] == [0, 1]


def test_invoke_evidence_without_evidence_and_for_an_unknown_tag(registry, tmp_path):
    repo_name = "suite/evidence-none"
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image none")
    result = show(tmp_path, f"{registry.host}/{repo_name}:1", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"no evidence for {registry.host}/{repo_name}:1@{subject.digest}: nothing verified yet\n"
    result = show(tmp_path, f"{registry.host}/{repo_name}:nope", env=_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"error: {registry.host}/{repo_name}:nope: no such tag in registry {registry.host}\n"
    result = show(tmp_path, f"{registry.host}/{repo_name}@sha256:{'0' * 64}", env=_env(tmp_path))
    assert result.returncode == 2 and "no such manifest" in result.stderr


def test_invoke_evidence_never_shows_a_registry_password(registry, tmp_path, monkeypatch):
    from builder import results

    repo_name = "suite/evidence-secret"
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image secret")
    config = {"auths": {registry.host: {"username": "ci", "password": PASSWORD}}}
    env = _env(tmp_path, config)
    # Written the tool's way (redacted when the record was made), and written raw by someone else.
    with monkeypatch.context() as patched:
        patched.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
        redacted = results.excerpt(f"login with {PASSWORD} failed")
    assert PASSWORD not in redacted
    push(RegistryClient(), Reference.parse(f"{registry.host}/{repo_name}"), subject,
                           [record(log=redacted), record(check="hello-windows", log=f"raw {PASSWORD}")])
    for output in ("text", "json"):
        result = show(tmp_path, f"{registry.host}/{repo_name}:1", "--format", output,
                        "--insecure-registry", registry.host, env=env)
        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
    assert [r["log_excerpt"] for r in json.loads(result.stdout)["records"]] == ["login with *** failed", "raw ***"]


def test_invoke_evidence_reports_a_bad_artifact_and_exits_1(registry, tmp_path):
    repo_name = "suite/evidence-cli-bad"
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/{repo_name}")
    subject = push_image(registry.host, tmp_path, repo_name, "1", b"image cli bad")
    other = push_image(registry.host, tmp_path, repo_name, "2", b"another image")
    push(client, repo, subject, [record()])
    stray = push(client, repo, other, [record(check="hello-windows")])
    # The other image's artifact listed under this one (a careless tool): its subject gives it away.
    tag = repo.with_tag(evidence.referrers_tag(subject.digest))
    index = json.loads(client.get_manifest(tag)[0])
    index["manifests"].append(evidence.find_evidence(client, repo, other.digest)[0])
    client.put_manifest(tag, json.dumps(index).encode(), OCI_INDEX)
    result = show(tmp_path, f"{registry.host}/{repo_name}:1", env=_env(tmp_path))
    assert result.returncode == 1
    assert "argoexec-version" in result.stdout and "hello-windows" not in result.stdout
    assert "1 record counted: 1 pass" in result.stdout
    assert f"warning: {registry.host}/{repo_name}@{stray}: its subject is not {subject.digest}" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: 1 evidence artifact(s) of ")


def _list_plain_image_as_evidence(client: RegistryClient, repo: Reference, subject: Descriptor, plain: Descriptor):
    """Constructed: a descriptor with our artifactType in the referrers tag, pointing at a plain image."""
    tag = repo.with_tag(evidence.referrers_tag(subject.digest))
    index = json.loads(client.get_manifest(tag)[0])
    index["manifests"].append({**plain.to_json(), "artifactType": evidence.ARTIFACT_TYPE})
    client.put_manifest(tag, json.dumps(index).encode(), OCI_INDEX)


def test_an_entry_that_is_no_evidence_is_dropped_from_the_tag_by_the_next_push(registry, tmp_path):
    """One bad entry in our referrers tag (our artifactType over a plain image) used to fail every publish."""
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-plain")
    subject = push_image(registry.host, tmp_path, "suite/evidence-plain", "1", b"image plain")
    plain = push_image(registry.host, tmp_path, "suite/evidence-plain", "2", b"another plain image")
    good = record()
    push(client, repo, subject, [good])
    _list_plain_image_as_evidence(client, repo, subject, plain)

    found = evidence.load_evidence(client, repo, subject.digest, evidence_keys.TRUSTED)
    assert found.records == [good]
    assert [a.descriptor["digest"] for a in found.not_evidence] == [plain.digest]
    said: list[str] = []
    pushed = push(client, repo, subject, [record(check="hello-windows")], say=said.append, existing=found)
    assert pushed.changed
    listed = [m["digest"] for m in evidence.find_evidence(client, repo, subject.digest)]
    assert listed == [str(pushed)]
    assert evidence.load_evidence(client, repo, subject.digest, evidence_keys.TRUSTED).problems == []


def test_an_entry_that_is_no_evidence_is_dropped_without_a_push_and_said_once(registry, tmp_path):
    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-plain2")
    subject = push_image(registry.host, tmp_path, "suite/evidence-plain2", "1", b"image plain 2")
    plain = push_image(registry.host, tmp_path, "suite/evidence-plain2", "2", b"another plain image 2")
    good = record()
    push(client, repo, subject, [good])
    _list_plain_image_as_evidence(client, repo, subject, plain)

    said: list[str] = []
    found = evidence.load_evidence(client, repo, subject.digest, evidence_keys.TRUSTED)
    dropped = evidence.drop_not_evidence(client, repo, found, said.append)
    assert dropped == [plain.digest] and len(said) == 1 and plain.digest in said[0]
    again = evidence.load_evidence(client, repo, subject.digest, evidence_keys.TRUSTED)
    assert again.problems == [] and again.records == [good]
    assert evidence.drop_not_evidence(client, repo, again, said.append) == [] and len(said) == 1


def test_publish_goes_on_past_an_entry_that_is_no_evidence(registry, tmp_path):
    from builder import publish, store
    from builder.progress import Progress

    client = RegistryClient()
    repo = Reference.parse(f"{registry.host}/suite/evidence-plain3")
    subject = push_image(registry.host, tmp_path, "suite/evidence-plain3", "1", b"image plain 3")
    plain = push_image(registry.host, tmp_path, "suite/evidence-plain3", "2", b"another plain image 3")
    push(client, repo, subject, [record()])
    _list_plain_image_as_evidence(client, repo, subject, plain)
    connection = store.connect(tmp_path / "results.sqlite")
    entry = SimpleNamespace(target=record()["target"], digest=subject.digest, media_type=subject.media_type,
                            size=subject.size)
    keys = {"signer": evidence_keys.SIGNER, "trusted": evidence_keys.TRUSTED}
    assert publish.exchange_evidence(client, repo, [entry], connection, Progress(), **keys) == []
    assert publish.exchange_evidence(client, repo, [entry], connection, Progress(), **keys) == []
    assert plain.digest not in [m["digest"] for m in evidence.find_evidence(client, repo, subject.digest)]
