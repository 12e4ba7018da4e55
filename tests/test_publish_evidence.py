"""Nothing verified is forgotten: publish keeps each image's records in its registry (as evidence with the image
as subject) and builds the table from every record of the published digests, tonight's or not.

Images are assembled for real (oci builder, synthetic bases, the suite's registry). The smoke records are
constructed: no Windows host runs here. They are written with results.Record, as a Windows runner's smoke
job would write them, for the digest the registry gave the image.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from builder import results
from tests import evidence_keys, infra, matrix_facts, windows_images
from tests.cli import invoke
from tests.matrix_facts import NEWEST_ARGO, target_id
from tests.test_oci_build import _log_mark, _manifest_puts

BASES = ("1909", "ltsc2022")


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    import os
    # publish signs what it pushes with the maintainer's key, which the matrix below trusts.
    return {**os.environ, "ARGOEXEC_BUILDER_SIGNING_KEY": str(evidence_keys.private_key_file("maintainer"))}


@pytest.fixture()
def trusting(tmp_path) -> str:
    """The project's matrix (and lock), trusting the test keys."""
    return str(evidence_keys.trusting_matrix(tmp_path / "trusting"))


def _exe(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MZ" + content)
    return path


def _smoke_records(folder, target: str, digest: str, host: str, runner: str, status: str = "pass") -> None:
    """Constructed: the two smoke records a runner on ``host`` writes for ``target`` pulled at ``digest``."""
    for check in ("argoexec-version", "hello-windows"):
        record = results.Record(target=target, argo=NEWEST_ARGO, os="windows", base=target.rsplit("-", 1)[1],
                                image_os_version=host.rsplit(".", 1)[0], image=f"repo:{target}",
                                image_digest=digest, host_os_version=host, runner=runner, engine_version="27.5.1",
                                isolation="process", check=check, status=status,
                                started_at="2026-11-21T02:30:00Z", duration_s=2.5, log_excerpt=f"{check} ok")
        results.write(record, folder)


def _table(docs) -> dict:
    return {row["id"]: row for row in json.loads((docs / "compatibility.json").read_text())["images"]}


def _skopeo_raw(reference: str) -> dict:
    skopeo = infra.require_binary("skopeo")
    return json.loads(subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
                                     check=True, capture_output=True, text=True).stdout)


def test_a_verified_cell_survives_a_night_its_runner_reports_nothing(registry, env, tmp_path, trusting):
    prefix = "evnights"
    windows_images.push_windows_bases(registry.host, tmp_path / "bases", prefix=prefix)
    repo = f"{registry.host}/{prefix}-out/argoexec"
    mirror = ("--mirror", f"mcr.microsoft.com={registry.host}/{prefix}")

    def build(exe, results_dir):
        built = invoke("build", "--builder", "oci", "--base", ",".join(BASES), "--to", repo, "--argoexec-exe",
                       str(exe), "--results", str(results_dir), *mirror, env=env)
        assert built.returncode == 0, built.stdout + built.stderr
        return {line.split()[1].split("@")[0].rsplit(":", 1)[1]: line.split("@")[1]
                for line in built.stdout.splitlines() if line.startswith("assembled ")}

    def publish(night: str, results_dir):
        results_dir.mkdir(parents=True, exist_ok=True)
        docs = tmp_path / night / "docs"
        done = invoke("publish", "--to", repo, "--argo", NEWEST_ARGO, "--no-linux", "--partial", "--results",
                      str(results_dir), "--db", str(tmp_path / night / "fresh.sqlite"), "--docs", str(docs),
                      "--readme", "", "--matrix", trusting, *mirror, env=env)
        return done, docs

    # Night 1: both built; the 1909 runner verifies its image.
    night1 = tmp_path / "night1-results"
    digests = build(_exe(tmp_path / "bin1" / "argoexec.exe", b"one"), night1)
    one909 = target_id("1909")
    _smoke_records(night1, one909, digests[one909], windows_images.os_version("1909"), "hv1909")
    # A dry run first: every decision said, nothing written (no index, no evidence, no file, no database).
    since = _log_mark(registry)
    dry = invoke("publish", "--to", repo, "--argo", NEWEST_ARGO, "--no-linux", "--partial", "--results", str(night1),
                 "--db", str(tmp_path / "dry" / "r.sqlite"), "--docs", str(tmp_path / "dry" / "docs"), "--readme", "",
                 "--dry-run", "--matrix", trusting, *mirror, env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"{repo}:{NEWEST_ARGO} would be written" in dry.stdout
    assert f"({len(BASES)} entries, would be written)" in dry.stdout
    assert "records would be pushed" in dry.stdout and "would write " in dry.stdout
    assert dry.stdout.strip().endswith("dry run: nothing was written (no tag, no evidence, no file, no database)")
    assert _manifest_puts(registry, f"{prefix}-out/argoexec", since) == 0
    assert not (tmp_path / "dry").exists()
    done, docs = publish("night1", night1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _table(docs)[one909]["cells"]["1909"]["process"]["state"] == "verified-pass"
    # The records travel with the image: a referrers index under the sha256-<hex> tag (this registry has no
    # referrers API), listing an artifact whose subject is the image.
    listing = _skopeo_raw(f"{repo}:sha256-{digests[one909].split(':')[1]}")
    (artifact,) = [m for m in listing["manifests"] if m.get("artifactType", "").startswith("application/vnd.argo")]
    assert _skopeo_raw(f"{repo}@{artifact['digest']}")["subject"]["digest"] == digests[one909]
    shown = invoke("evidence", f"{repo}:{one909}", "--format", "json", "--matrix", trusting, env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    checks = {(r["check"], r["status"]) for r in json.loads(shown.stdout)["records"]}
    assert {("build", "pass"), ("argoexec-version", "pass"), ("hello-windows", "pass")} <= checks

    # A node owner asks which image to use: the one tag and the per-base tag, pinned to what the registry has now.
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(matrix_facts.TEXT.replace("  publish: local\n", f"  publish: {repo}\n"))
    index_digest = done.stdout.split(f"{repo}:{NEWEST_ARGO}@", 1)[1].split()[0]
    # A terminal wide enough for a pinned reference on one line (at 80 columns it would wrap after its "@").
    which = invoke("which", "--node", "10.0.18363", "--argo", NEWEST_ARGO, "--matrix", str(matrix), "--db",
                   str(tmp_path / "night1" / "fresh.sqlite"), env={**env, "COLUMNS": "200"})
    assert which.returncode == 0, which.stdout + which.stderr
    assert f"{repo}:{NEWEST_ARGO}@{index_digest}" in which.stdout
    assert f"{repo}:{one909}@{digests[one909]}" in which.stdout
    helm = invoke("which", "--node", "1909", "--format", "helm", "--matrix", str(matrix), env=env)
    assert helm.returncode == 0 and f"{NEWEST_ARGO}@{index_digest}" in helm.stdout, helm.stdout + helm.stderr
    offline = invoke("which", "--node", "1909", "--matrix", str(matrix), "--offline", env=env)
    assert offline.returncode == 0 and "@sha256:" not in offline.stdout and offline.stderr == ""

    # Night 2: nothing rebuilt, the 1909 runner offline (no records), a fresh database: still verified.
    since = _log_mark(registry)
    done, docs = publish("night2", tmp_path / "night2-results")
    assert done.returncode == 0, done.stdout + done.stderr
    cell = _table(docs)[one909]["cells"]["1909"]["process"]
    assert cell["state"] == "verified-pass" and cell["evidence"]["runner"] == "hv1909"
    assert cell["evidence"]["image_digest"] == digests[one909]
    assert _manifest_puts(registry, f"{prefix}-out/argoexec", since) == 0  # nothing new: no evidence pushed

    # Night 3: a new argoexec.exe, so a new digest: its row starts again from the rules' prediction.
    night3 = tmp_path / "night3-results"
    new_digests = build(_exe(tmp_path / "bin3" / "argoexec.exe", b"three"), night3)
    assert new_digests[one909] != digests[one909]
    done, docs = publish("night3", night3)
    assert done.returncode == 0, done.stdout + done.stderr
    row = _table(docs)[one909]
    assert row["pull"] == {"reference": f"{repo}:{one909}", "digest": new_digests[one909]}
    assert row["cells"]["1909"]["process"]["state"] == "predicted"
    # The old digest keeps its evidence; the new one has its build record only.
    assert re.search(r"argoexec-version\s+pass", invoke("evidence", f"{repo}@{digests[one909]}", "--matrix", trusting,
                                                        env=env).stdout)
    now = invoke("evidence", f"{repo}:{one909}", "--format", "json", "--matrix", trusting, env=env)
    assert {r["check"] for r in json.loads(now.stdout)["records"]} == {"build"}
