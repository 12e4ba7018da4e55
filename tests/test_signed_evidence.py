"""Evidence you can trust: what counts is signed by a trusted key, about the image it is attached to.

The format is checked independently of the library that signs it (DSSE's PAE verified with
``cryptography`` alone). Against the suite's real registry, the ways to make a cell say "verified"
without a trusted signer's word (evidence re-attached to another image, records edited in the registry,
a key nobody trusts, today's unsigned artifacts, a date in the future) are each tried: the cell stays
unverified, and `invoke evidence` lists what was found with its reason. The records are constructed
(results.Record's fields, as a Windows runner writes them); the images are synthetic.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import types

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from builder import evidence, publish, signing, store
from builder import table as table_mod
from builder.registry import OCI_INDEX, OCI_MANIFEST, Reference, RegistryClient, sha256_digest
from tests import evidence_keys
from tests.cli import invoke
from tests.matrix_facts import MATRIX, NEWEST_ARGO, TEXT, target_id
from tests.test_evidence import _env, push_image
from tests.windows_images import os_version

TARGET = target_id("1809")
HOST = "10.0.17763.6893"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))


def records_for(digest: str, status: str = "pass", started: str = "2026-11-21T02:30:00Z",
                target: str = TARGET) -> list[dict]:
    """Constructed: the smoke records a 1809 runner writes for the image ``digest``."""
    return [{"target": target, "argo": NEWEST_ARGO, "os": "windows", "base": target.rsplit("-", 1)[1],
             "image_os_version": "10.0.17763", "image": f"repo:{target}", "image_digest": digest,
             "host_os_version": HOST, "runner": "ws1809", "engine_version": "27.5.1", "isolation": "process",
             "check": check, "status": status, "started_at": started, "duration_s": 2.0, "log_excerpt": "ok",
             "tool_version": "0.1.0"} for check in ("argoexec-version", "hello-windows")]


# ---------------------------------------------------------------------------------------------
# The format, checked without the signing library


def _pae(payload_type: bytes, body: bytes) -> bytes:
    # DSSE protocol.md: PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal.
    return b" ".join([b"DSSEv1", str(len(payload_type)).encode(), payload_type, str(len(body)).encode(), body])


@pytest.mark.parametrize("pair, signer", [(evidence_keys.MAINTAINER, evidence_keys.SIGNER),
                                          (evidence_keys.CLUSTER_OWNER, evidence_keys.ED_SIGNER)],
                         ids=["ecdsa-p256", "ed25519"])
def test_the_envelope_is_standard_dsse_verified_with_cryptography_alone(pair, signer):
    digest = "sha256:" + "d" * 64
    layer = signing.sign(signing.statement("reg.example/argoexec", digest, records_for(digest)), signer)
    envelope = json.loads(layer)
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    body = base64.b64decode(envelope["payload"])
    (entry,) = envelope["signatures"]
    signature = base64.b64decode(entry["sig"])
    public = serialization.load_pem_public_key(pair.public_pem)
    message = _pae(envelope["payloadType"].encode(), body)

    def verify(data: bytes) -> None:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            public.verify(signature, data)

    verify(message)
    # The keyid is the SHA-256 of the key's DER SubjectPublicKeyInfo.
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert entry["keyid"] == "sha256:" + __import__("hashlib").sha256(der).hexdigest()
    statement = json.loads(body)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "reg.example/argoexec", "digest": {"sha256": "d" * 64}}]
    # One byte of the body changed: the signature no longer verifies.
    with pytest.raises(InvalidSignature):
        verify(_pae(envelope["payloadType"].encode(), body.replace(b'"pass"', b'"fail"', 1)))


def test_keys_that_are_not_p256_or_ed25519_and_private_keys_as_trusted_are_refused(tmp_path):
    from builder.errors import InputError

    other = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.pub").write_bytes(other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(InputError, match="secp384r1; expected P-256"):
        signing.load_public_key(tmp_path / "p384.pub")
    (tmp_path / "private.pub").write_bytes(evidence_keys.MAINTAINER.private_pem)
    with pytest.raises(InputError, match="a private key; trust the PUBLIC key"):
        signing.load_public_key(tmp_path / "private.pub")


# ---------------------------------------------------------------------------------------------
# Import: a record dated in the future


def test_import_skips_a_record_dated_more_than_ten_minutes_ahead(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    now = dt.datetime.now(dt.timezone.utc)
    soon = (now + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (now + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ok, ahead = records_for("sha256:" + "e" * 64, started=soon)[0], records_for("sha256:" + "e" * 64, started=later)[1]
    (folder / "ok.json").write_text(json.dumps(ok))
    (folder / "ahead.json").write_text(json.dumps(ahead))
    result = invoke("results.import", "--dir", str(folder), "--db", str(tmp_path / "r.sqlite"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"skipped: {folder / 'ahead.json'}: started_at {later} is more than 10 minutes ahead of now" in result.stdout
    assert "imported 1 record" in result.stdout
    assert [r["check"] for r in store.all_records(store.connect(tmp_path / "r.sqlite"))] == ["argoexec-version"]


# ---------------------------------------------------------------------------------------------
# Against the real registry: what counts, and what is shown as not counted


def _attach(client: RegistryClient, repo: Reference, subject: evidence.Descriptor, layer: bytes,
            artifact_type: str = evidence.ARTIFACT_TYPE, layer_type: str = evidence.ENVELOPE_TYPE) -> str:
    """Push an artifact holding ``layer`` with ``subject`` and list it in the referrers tag, as anyone with push
    rights can (raw registry pushes, not the tool's)."""
    client.push_blob(repo.registry, repo.repository, sha256_digest(layer), len(layer), lambda: layer)
    client.push_blob(repo.registry, repo.repository, evidence.EMPTY_DESCRIPTOR["digest"], 2, lambda: b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                           "config": evidence.EMPTY_DESCRIPTOR,
                           "layers": [{"mediaType": layer_type, "digest": sha256_digest(layer), "size": len(layer)}],
                           "subject": subject.to_json(),
                           "annotations": {evidence.CREATED_ANNOTATION: "2026-11-22T00:00:00Z"}}).encode()
    digest = client.put_manifest(Reference(repo.registry, repo.repository, None, sha256_digest(manifest)), manifest,
                                 OCI_MANIFEST)
    tag = repo.with_tag(evidence.referrers_tag(subject.digest))
    found = client.find_manifest(tag, accept=OCI_INDEX)
    index = json.loads(found[0]) if found else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"].append(evidence.referrer_descriptor(manifest))
    client.put_manifest(tag, json.dumps(index).encode(), OCI_INDEX)
    return digest


def _envelope_of(client: RegistryClient, repo: Reference, artifact: str) -> bytes:
    manifest = json.loads(client.get_manifest(Reference(repo.registry, repo.repository, None, artifact))[0])
    return client.get_blob(repo.registry, repo.repository, manifest["layers"][0]["digest"])


def _cell(repo: Reference, subject: evidence.Descriptor, client: RegistryClient, db) -> tuple[str, list[str]]:
    """What publish makes of the image's evidence in a fresh clone (no local records): the 1809 process cell of
    its target, and the lines it printed."""
    lines: list[str] = []
    progress = types.SimpleNamespace(begin=lambda *a: None, end=lambda *a, **k: None, line=lines.append)
    connection = store.connect(db)
    entry = types.SimpleNamespace(target=TARGET, digest=subject.digest, media_type=subject.media_type,
                                  size=subject.size)
    problems = publish.exchange_evidence(client, repo, [entry], connection, progress, signer=None,
                                          trusted=evidence_keys.TRUSTED)
    assert problems == []
    publication = table_mod.Publication(str(repo))
    publication.images[TARGET] = subject.digest
    table = table_mod.build_table(MATRIX, store.all_records(connection), publication)
    (row,) = [r for r in table.rows if r.id == TARGET]
    return row.cells["1809"]["process"].state, lines


def test_only_signed_evidence_about_the_image_counts_and_the_rest_is_listed_with_its_reason(registry, tmp_path):
    client = RegistryClient()
    name = "suite/signed"
    repo = Reference.parse(f"{registry.host}/{name}")
    version = os_version("1809")
    honest, moved, edited, stranger, unsigned, future = (
        push_image(registry.host, tmp_path, name, tag, tag.encode(), version)
        for tag in ("honest", "moved", "edited", "stranger", "unsigned", "future"))

    # Honest: the maintainer signs the records of the image they are attached to. A fresh clone counts them.
    pushed = evidence.push_evidence(client, repo, honest, records_for(honest.digest), evidence_keys.SIGNER)
    state, lines = _cell(repo, honest, client, tmp_path / "honest.sqlite")
    assert state == table_mod.VERIFIED_PASS
    # Without a signing key, publish pushes nothing and says so once.
    assert lines == ["no evidence pushed: $ARGOEXEC_BUILDER_SIGNING_KEY is not set (publish signs what it pushes)"]

    # Re-attached: the honest image's envelope pushed as evidence of another image.
    _attach(client, repo, moved, _envelope_of(client, repo, str(pushed)))
    # Edited in the registry: honest "fail" records, then the same envelope with "pass" and a later time.
    failing = evidence.push_evidence(client, repo, edited, records_for(edited.digest, "fail"), evidence_keys.SIGNER)
    envelope = json.loads(_envelope_of(client, repo, str(failing)))
    body = base64.b64decode(envelope["payload"]).replace(b'"fail"', b'"pass"').replace(b"2026-11-21", b"2026-11-22")
    envelope["payload"] = base64.b64encode(body).decode()
    _attach(client, repo, edited, json.dumps(envelope).encode())
    # Signed by a key nobody trusts.
    evidence.push_evidence(client, repo, stranger, records_for(stranger.digest), evidence_keys.STRANGER)
    # Today's unsigned format.
    manifest, layer = evidence.artifact_manifest(unsigned, records_for(unsigned.digest))
    _attach(client, repo, unsigned, layer, evidence.UNSIGNED_ARTIFACT_TYPE, evidence.RECORDS_TYPE)
    # Signed by a trusted key, but dated in the future (the newest per identity would win for good).
    evidence.push_evidence(client, repo, future, records_for(future.digest, started="2099-01-01T00:00:00Z"),
                           evidence_keys.SIGNER)

    expected = {moved: signing.SUBJECT_MISMATCH, edited: signing.BAD_SIGNATURE,
                stranger: f"{signing.UNTRUSTED} {evidence_keys.STRANGER.keyid}", unsigned: signing.UNSIGNED,
                future: "dated in the future (2099-01-01T00:00:00Z)"}
    for subject, reason in expected.items():
        state, lines = _cell(repo, subject, client, tmp_path / f"{subject.digest[7:19]}.sqlite")
        wanted = table_mod.VERIFIED_FAIL if subject is edited else table_mod.PREDICTED
        assert state == wanted, (reason, state)  # the edited image keeps its honest verdict: fail
        assert any(line.startswith("not counted: 2 record(s) of ") and line.endswith(reason) for line in lines), \
            (reason, lines)
        found = evidence.load_evidence(client, repo, subject.digest, evidence_keys.TRUSTED, TARGET)
        assert reason in [n.reason for n in found.not_counted]
        assert all(r["status"] == "fail" for r in found.records)  # only the edited image's honest records count

    # `invoke evidence` shows them side by side: counted "yes", the others "no: <reason>".
    matrix = str(evidence_keys.trusting_matrix(tmp_path / "trusting"))
    shown = invoke("evidence", f"{registry.host}/{name}:edited", "--matrix", matrix, env=_env(tmp_path))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    rows = shown.stdout.splitlines()
    assert rows[1].split()[-1] == "counted"
    assert sum(line.split()[1] == "fail" and line.endswith("yes") for line in rows[2:]) == 2
    assert sum(line.split()[1] == "pass" and line.endswith(f"no: {signing.BAD_SIGNATURE}") for line in rows[2:]) == 2
    assert rows[-1] == "2 records counted: 2 fail; 2 not counted"
    shown = invoke("evidence", f"{registry.host}/{name}:stranger", "--matrix", matrix, env=_env(tmp_path))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"no: untrusted key {evidence_keys.STRANGER.keyid}" in shown.stdout
    assert shown.stdout.splitlines()[-1] == \
        f"nothing verified for {registry.host}/{name}:stranger@{stranger.digest}: no record counts"
    # The same artifacts under a matrix that trusts no key: nothing counts, not even the honest ones.
    untrusting = tmp_path / "untrusting" / "matrix.yaml"
    untrusting.parent.mkdir()
    untrusting.write_text(TEXT)
    shown = invoke("evidence", f"{registry.host}/{name}:honest", "--matrix", str(untrusting), "--format", "json",
                   env=_env(tmp_path))
    document = json.loads(shown.stdout)
    assert document["records"] == []
    assert [n["reason"] for n in document["not_counted"]] == [f"{signing.UNTRUSTED} {evidence_keys.SIGNER.keyid}"]




# ---------------------------------------------------------------------------------------------
# Bad keys are bad input, named, before anything is read or written


def test_a_trusted_key_that_is_missing_or_not_a_public_key_is_exit_2_naming_the_matrix_line(tmp_path):
    matrix = evidence_keys.trusting_matrix(tmp_path)
    (tmp_path / "keys" / "cluster.pub").unlink()
    result = invoke("evidence", "127.0.0.1:9/suite/app:1", "--matrix", str(matrix))
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and re.match(r"error: .*matrix\.yaml:\d+: evidence\.trusted_keys\[1\] keys/cluster\.pub: "
                                        r"no such file$", line), line
    (tmp_path / "keys" / "cluster.pub").write_text("not a key\n")
    result = invoke("evidence", "127.0.0.1:9/suite/app:1", "--matrix", str(matrix))
    assert result.returncode == 2 and "keys/cluster.pub: not a PEM public key" in result.stderr
    # A key outside the matrix's folder is refused by the matrix check itself.
    matrix.write_text(matrix.read_text().replace("keys/cluster.pub", "../elsewhere.pub"))
    result = invoke("evidence", "127.0.0.1:9/suite/app:1", "--matrix", str(matrix))
    assert result.returncode == 2 and "evidence.trusted_keys[1]: '../elsewhere.pub' is not valid" in result.stderr


def test_publish_with_a_signing_key_that_is_no_key_is_exit_2_before_anything_is_written(tmp_path):
    import os

    bad = tmp_path / "signing.pem"
    bad.write_text(evidence_keys.MAINTAINER.public_pem.decode())
    docs = tmp_path / "docs"
    env = {**os.environ, "ARGOEXEC_BUILDER_SIGNING_KEY": str(bad), "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "c")}
    result = invoke("publish", "--to", "127.0.0.1:9/suite/app", "--docs", str(docs), "--readme", "",
                    "--db", str(tmp_path / "r.sqlite"), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"error: $ARGOEXEC_BUILDER_SIGNING_KEY {bad}: not a PEM private key " \
                                    "(-----BEGIN PRIVATE KEY-----)"
    assert not docs.exists() and not (tmp_path / "r.sqlite").exists()
