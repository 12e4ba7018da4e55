"""A new Windows release is one entry in matrix.yaml: plan, render, the daemonless build, the index tag and
the table take it with no code change.

The release is fictional (tests/matrix_facts.FICTIONAL_NAME, a build newer than any listed), with
``stable_abi: true`` and a column in the table's hosts; its synthetic nanoserver and servercore are pushed
to the suite's real registry and read through --mirror, as any base is.
"""

from __future__ import annotations

import json
import subprocess

from builder.matrix import load_matrix
from tests import infra, matrix_facts, windows_images
from tests.cli import invoke

NAME, BUILD = matrix_facts.FICTIONAL_NAME, matrix_facts.FICTIONAL_BUILD
NEWEST_ARGO = matrix_facts.NEWEST_ARGO


def _matrix(tmp_path):
    text = matrix_facts.with_host(NAME, BUILD, matrix_facts.with_release(NAME, BUILD, stable_abi=True))
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    return path


def test_plan_and_render_take_a_new_release_from_the_matrix(tmp_path):
    path = _matrix(tmp_path)
    result = invoke("plan", "--matrix", str(path), "--base", NAME, "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["id"] == f"{NEWEST_ARGO}-windows-{NAME}" and entry["os_version"] == BUILD
    assert entry["base_image"] == f"mcr.microsoft.com/windows/nanoserver:{NAME}"
    # No runner of the matrix is that new: the daemonless builder makes it, and nobody can smoke-test it yet.
    assert (entry["build"], entry["builder"], entry["smoke"]) == ("none", "oci", [])
    on_its_host = json.loads(invoke("plan", "--matrix", str(path), "--base", NAME, "--json",
                                    "--host-build", BUILD).stdout)
    assert (on_its_host[0]["build"], on_its_host[0]["isolation"]) == ("docker-process", "process")

    out = tmp_path / "rendered"
    result = invoke("render", "--matrix", str(path), "--base", NAME, "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = (out / f"{NEWEST_ARGO}-windows-{NAME}" / "Dockerfile.windows").read_text()
    assert f"FROM mcr.microsoft.com/windows/nanoserver:{NAME} AS argoexec-base" in text
    assert f"FROM mcr.microsoft.com/windows/servercore:{NAME} AS builder" in text


def test_a_new_release_is_built_indexed_and_tabled(registry, tmp_path, monkeypatch):
    path = _matrix(tmp_path)
    matrix = load_matrix(path)
    work = tmp_path / "images"
    pushed = windows_images.push_windows_bases(registry.host, work, releases=[matrix.release(NAME),
                                                                              matrix.release("ltsc2025")])
    new_base = next(b for b in pushed if b.release == NAME)
    windows_images.push_upstream_argoexec(registry.host, work)
    exe = tmp_path / "bin" / "argoexec.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"MZ stand-in argoexec.exe")
    (exe.parent / "7za.exe").write_bytes(b"MZ 7za")
    monkeypatch.setenv("ARGOEXEC_BUILDER_CACHE", str(tmp_path / "cache"))
    import os
    env = {**os.environ}
    mirrors = ("--mirror", f"mcr.microsoft.com={registry.host}/mcr", "--mirror", f"quay.io={registry.host}/quay")
    repo = f"{registry.host}/newrelease/argoexec"

    built = invoke("build", "--matrix", str(path), "--builder", "oci", "--base", f"ltsc2025,{NAME}", "--to", repo,
                   "--argoexec-exe", str(exe), "--results", str(tmp_path / "results"), *mirrors, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    skopeo = infra.require_binary("skopeo")
    config = json.loads(subprocess.run(
        [skopeo, "inspect", "--config", "--tls-verify=false", f"docker://{repo}:{NEWEST_ARGO}-windows-{NAME}"],
        check=True, capture_output=True, text=True).stdout)
    assert config["os.version"] == new_base.os_version

    publish = ("publish", "--matrix", str(path), "--to", repo, "--no-linux", "--db", str(tmp_path / "db.sqlite"),
               "--results", str(tmp_path / "results"), "--docs", str(tmp_path / "docs"), "--readme", "", *mirrors)
    # The other bases were not built: an index without their entries would take their nodes' image away.
    refused = invoke(*publish, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    missing = sorted(f"{NEWEST_ARGO}-windows-{r.name}" for r in matrix.releases if r.name not in ("ltsc2025", NAME))
    assert refused.stderr.startswith(f"error: {repo}:{NEWEST_ARGO} not written: {len(missing)} expected Windows "
                                     f"entries are missing ({', '.join(sorted(missing, key=missing.index))}")
    assert subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{repo}:{NEWEST_ARGO}"],
                          capture_output=True).returncode != 0  # no index tag was written
    published = invoke(*publish, "--partial", env=env)
    assert published.returncode == 0, published.stdout + published.stderr
    index = json.loads(subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{repo}:{NEWEST_ARGO}"],
        check=True, capture_output=True, text=True).stdout)
    # Newest build first, each entry with the os.version of its base: the new release leads.
    assert [m["platform"]["os.version"] for m in index["manifests"]] == [
        new_base.os_version, next(b for b in pushed if b.release == "ltsc2025").os_version]

    table = json.loads((tmp_path / "docs" / "compatibility.json").read_text())
    assert NAME in [h["name"] for h in table["hosts"]]
    # The table names what to pull: the one tag and the new release's own, with the digests published.
    index_digest = published.stdout.split(f"{repo}:{NEWEST_ARGO}@", 1)[1].split()[0]
    assert table["indexes"][NEWEST_ARGO] == {"reference": f"{repo}:{NEWEST_ARGO}", "digest": index_digest}
    pulls = {row["id"]: row["pull"] for row in table["images"]}
    assert pulls[f"{NEWEST_ARGO}-windows-{NAME}"]["reference"] == f"{repo}:{NEWEST_ARGO}-windows-{NAME}"
    assert pulls[f"{NEWEST_ARGO}-windows-{NAME}"]["digest"] == index["manifests"][0]["digest"]
    assert pulls[f"{NEWEST_ARGO}-windows-1909"]["digest"] is None  # not built, not published
    markdown = (tmp_path / "docs" / "compatibility.md").read_text()
    assert f"Pull `{repo}:{NEWEST_ARGO}` (`{index_digest}`)" in markdown
    rows = {row["id"]: row["cells"] for row in table["images"]}
    new_row = rows[f"{NEWEST_ARGO}-windows-{NAME}"]
    assert new_row[NAME]["process"]["state"] == "predicted"
    assert all(new_row[h.name]["hyperv"]["state"] == "cannot-run" for h in matrix_facts.HOSTS)
    # On the new release's nodes the stable-ABI window starts at the newest stable-ABI release below it
    # (ltsc2025): its images run with process isolation, ltsc2022's only with Hyper-V.
    assert rows[f"{NEWEST_ARGO}-windows-ltsc2025"][NAME]["process"]["state"] == "predicted"
    assert rows[f"{NEWEST_ARGO}-windows-ltsc2022"][NAME]["process"]["state"] == "cannot-run"
    assert rows[f"{NEWEST_ARGO}-windows-ltsc2022"][NAME]["hyperv"]["state"] == "predicted"
