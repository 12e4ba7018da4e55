"""`invoke refresh` and matrix.lock.json: the GitHub client against a stand-in of the REST API
(tests/github_standin.py), the lock read strictly and used by the plan, render and the oci builder, and
refresh against synthetic bases in the suite's real registry (tests/windows_images.py).

The suite runs with ARGOEXEC_BUILDER_LOCK=none (tests/__init__.py); these tests name their own lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess

import pytest

from builder import github as github_mod
from builder import refresh as refresh_mod
from builder.errors import InputError, MatrixError, Unreachable
from builder.github import ApiError, GitHub, Release
from builder.lock import LockedArgo, parse_lock
from builder.matrix import ArgoReleases, load_matrix
from builder.refresh import select_releases
from builder.registry import INDEX_TYPES, OCI_INDEX, Reference, RegistryClient
from tests import infra, matrix_facts, windows_images
from tests.cli import invoke
from tests.github_standin import ARGO, GitHubStandin, StandinRelease, argo_state, commit_of
from tests.infra import free_port
from tests.test_oci_build import _log_mark

TOKEN = "ghp_standinSECRETtoken0123456789"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def _env(api_url: str, token: str | None = None, lock: str | None = "none") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN", "ARGOEXEC_BUILDER_LOCK")}
    env["GITHUB_API_URL"] = api_url
    if token is not None:
        env["GITHUB_TOKEN"] = token
    if lock is not None:
        env["ARGOEXEC_BUILDER_LOCK"] = lock
    return env


@pytest.fixture()
def api():
    with GitHubStandin(argo_state(TOKEN)) as standin:
        yield standin


# ---------------------------------------------------------------------------------------------
# The GitHub client


def test_releases_follow_the_link_header_and_skip_drafts(api):
    client = GitHub(api.url, token=TOKEN)
    found = client.releases(ARGO)
    assert [r.tag for r in found] == ["v4.2.0-rc1", "v4.1.2", "v4.1.1", "v4.0.10", "v4.0.9", "v3.7.18", "v3.7.17",
                                      "v3.6.9"]  # the draft v4.2.0 left out
    assert next(r for r in found if r.tag == "v4.2.0-rc1").prerelease
    listed = [r for r in api.state.requests if r["path"].endswith("/releases")]
    assert len(listed) == 5  # 9 releases, 2 a page
    assert listed[0]["query"] == {"per_page": "100"}
    assert all(r["accept"] == "application/vnd.github+json" and r["api_version"] == "2022-11-28" for r in listed)
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in api.state.requests)


def test_commit_and_go_mod_at_a_tag(api):
    client = GitHub(api.url, token=TOKEN)
    assert client.commit(ARGO, "v4.1.2") == commit_of(ARGO, "v4.1.2")
    assert "go 1.26.5\n" in client.file(ARGO, "go.mod", "v4.1.2")
    accepts = {r["path"].split("/")[4]: r["accept"] for r in api.state.requests}
    assert accepts == {"commits": "application/vnd.github.sha", "contents": "application/vnd.github.raw+json"}


def test_a_refused_token_is_never_shown(api):
    with pytest.raises(InputError) as info:
        GitHub(api.url, token="ghp_wrongTOKENvalue987").releases(ARGO)
    assert "token was refused (401)" in str(info.value)
    assert "ghp_wrongTOKENvalue987" not in str(info.value) and TOKEN not in str(info.value)


def test_rate_limit_is_one_line_that_says_to_set_a_token(api):
    api.state.token, api.state.fault = None, "rate-limit"
    with pytest.raises(Unreachable) as info:
        GitHub(api.url, token="").releases(ARGO)
    message = str(info.value)
    assert "rate limit is used up" in message and "set GITHUB_TOKEN" in message and "\n" not in message


def test_server_errors_are_tried_three_times_then_unreachable(api):
    api.state.fault = "500"
    with pytest.raises(Unreachable) as info:
        GitHub(api.url, token=TOKEN, sleep=lambda _: None).releases(ARGO)
    assert "after 3 attempts (the last answered 500)" in str(info.value)
    assert len(api.state.requests) == 3


def test_unknown_repository_names_the_matrix_key(api):
    with pytest.raises(InputError) as info:
        GitHub(api.url, token=TOKEN).releases("argoproj/no-such-repo")
    assert str(info.value).startswith("argo_releases.repository: argoproj/no-such-repo: no such repository")


def test_token_from_the_environment(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GH_TOKEN", "from-gh-token")
    assert github_mod.env_token() == "from-gh-token"
    monkeypatch.setenv("GITHUB_TOKEN", "from-github-token")
    assert github_mod.env_token() == "from-github-token"


RELEASES = [Release(tag, pre, None) for tag, pre in [
    ("v4.2.0-rc1", True), ("v4.1.2", False), ("v4.1.1", False), ("v4.0.10", False), ("v4.0.9", False),
    ("v3.7.18", False), ("v3.6.9", False), ("nightly", False), ("v4.1.3", True)]]


@pytest.mark.parametrize("versions,newest,pre,expected", [
    (">=3.7", 3, False, ["v4.1.2", "v4.0.10", "v3.7.18"]),
    (">=3.7", 3, True, ["v4.2.0-rc1", "v4.1.3", "v4.0.10"]),  # v4.1.3 is marked a pre-release on GitHub
    (">=3.7", 1, False, ["v4.1.2"]),
    ("<4.1", 3, False, ["v4.0.10", "v3.7.18", "v3.6.9"]),
    (">=3.7,!=4.1.2", 2, False, ["v4.1.1", "v4.0.10"]),
    (">=9", 3, False, []),
])
def test_the_newest_patch_of_the_newest_minor_series(versions, newest, pre, expected):
    assert [r.tag for r in select_releases(RELEASES, ArgoReleases(ARGO, versions, newest, pre))] == expected


# ---------------------------------------------------------------------------------------------
# Refresh through the CLI: GitHub errors stop it before any registry is asked


def _matrix_copy(tmp_path, text: str = matrix_facts.TEXT):
    path = tmp_path / "site" / "matrix.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_refresh_with_an_unreachable_api_is_exit_4(tmp_path):
    matrix = _matrix_copy(tmp_path)
    result = invoke("refresh", "--matrix", str(matrix), env=_env(f"http://127.0.0.1:{free_port()}"))
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.startswith("error: GitHub API 127.0.0.1:") and "after 3 attempts" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (matrix.parent / "matrix.lock.json").exists()


def test_refresh_under_a_rate_limit_says_to_set_github_token(api, tmp_path):
    api.state.token, api.state.fault = None, "rate-limit"
    result = invoke("refresh", "--matrix", str(_matrix_copy(tmp_path)), env=_env(api.url))
    assert result.returncode == 4
    assert "rate limit is used up" in result.stderr and "set GITHUB_TOKEN" in result.stderr


def test_refresh_with_a_refused_token_shows_no_token(api, tmp_path):
    result = invoke("refresh", "--matrix", str(_matrix_copy(tmp_path)), env=_env(api.url, "ghp_refusedTOKEN4242"))
    assert result.returncode == 2
    assert "token was refused" in result.stderr
    assert "ghp_refusedTOKEN4242" not in result.stdout + result.stderr


def test_refresh_of_an_unknown_repository(api, tmp_path):
    text = matrix_facts.TEXT.replace("repository: argoproj/argo-workflows", "repository: argoproj/argo-nothing")
    result = invoke("refresh", "--matrix", str(_matrix_copy(tmp_path, text)), env=_env(api.url, TOKEN))
    assert result.returncode == 2
    assert "argo_releases.repository: argoproj/argo-nothing: no such repository" in result.stderr


# ---------------------------------------------------------------------------------------------
# The lock, read strictly


def _lock_document(**overrides) -> dict:
    document = {
        "schema": 1,
        "argo": [{"version": "v4.1.3", "commit": "c" * 40, "go": "1.26.6", "published_at": "2026-02-01T00:00:00Z"},
                 {"version": "v4.0.10", "commit": "d" * 40, "go": "1.25.12"}],
        "bases": {"mcr.microsoft.com/windows/nanoserver:ltsc2022":
                  {"digest": DIGEST_A, "os_version": "10.0.20348.4405"},
                  "mcr.microsoft.com/windows/servercore:ltsc2022":
                  {"digest": DIGEST_B, "os_version": "10.0.20348.4405"}},
    }
    document.update(overrides)
    return document


NANO = "mcr.microsoft.com/windows/nanoserver:ltsc2022"


@pytest.mark.parametrize("change,key,words", [
    ({"schema": 2}, "schema", "expected 1"),
    ({"extra": 1}, "extra", "unknown key"),
    ({"bases": []}, "bases", "expected an object"),
    ({"bases": {NANO: {"digest": "sha256:abc", "os_version": "10.0.20348.1"}}}, f'bases["{NANO}"].digest',
     "not a digest"),
    ({"bases": {NANO: {"digest": DIGEST_A, "os_version": "10.0.20348"}}}, f'bases["{NANO}"].os_version',
     "10.0.BUILD.REVISION"),
    ({"bases": {"not a reference": {"digest": DIGEST_A, "os_version": "10.0.1.1"}}}, 'bases["not a reference"]',
     "tagged image reference"),
    ({"argo": []}, "argo", "non-empty list"),
    ({"argo": [{"version": "4.1.3", "commit": "c" * 40, "go": "1.26.6"}]}, "argo[0].version", "v4.1.2"),
    ({"argo": [{"version": "v4.1.3", "commit": "C0FFEE", "go": "1.26.6"}]}, "argo[0].commit", "40 hex"),
    ({"argo": [{"version": "v4.1.3", "commit": "c" * 40}]}, "argo[0]", "version, commit, go"),
])
def test_a_malformed_lock_is_one_line_naming_file_and_key(change, key, words):
    with pytest.raises(MatrixError) as info:
        parse_lock(json.dumps(_lock_document(**change)), "site/matrix.lock.json")
    message = str(info.value)
    assert message.startswith(f"site/matrix.lock.json: {key}: " if key else "site/matrix.lock.json: ")
    assert words in message and "invoke refresh" in message and "\n" not in message
    assert info.value.exit_code == 2


def test_a_lock_that_is_not_json():
    with pytest.raises(MatrixError) as info:
        parse_lock('{"schema": 1, "schema": 1, "bases": {}}', "m.lock.json")
    assert str(info.value).startswith("m.lock.json: not JSON") and "invoke refresh" in str(info.value)


def test_the_lock_text_is_deterministic():
    lock = parse_lock(json.dumps(_lock_document()), "x")
    text = lock.text()
    assert text.endswith("}\n") and text == parse_lock(text, "x").text()
    assert json.loads(text) == _lock_document()
    assert text.index('"argo"') < text.index('"bases"') < text.index('"schema"')  # sorted keys


# ---------------------------------------------------------------------------------------------
# The lock, used


def _with_lock(tmp_path, document: dict | None = None) -> tuple:
    matrix = _matrix_copy(tmp_path)
    lock = matrix.parent / "matrix.lock.json"
    lock.write_text(json.dumps(document or _lock_document()))
    return matrix, lock


def test_matrix_with_a_lock_pins_bases_and_builds_the_locked_releases(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # the lock pins ltsc2022 only: outside CI, a warning
    matrix_path, lock_path = _with_lock(tmp_path)
    matrix = load_matrix(matrix_path, lock=lock_path)
    release = matrix.release("ltsc2022")
    assert matrix.base_image(release) == f"mcr.microsoft.com/windows/nanoserver@{DIGEST_A}"
    assert matrix.base_image(release, "servercore") == f"mcr.microsoft.com/windows/servercore@{DIGEST_B}"
    assert matrix.base_tag(release) == "mcr.microsoft.com/windows/nanoserver:ltsc2022"
    assert matrix.locked_base(release).os_version == "10.0.20348.4405"
    assert matrix.base_image(matrix.release("1809")) == "mcr.microsoft.com/windows/nanoserver:1809"  # not locked
    assert matrix.locked_base(matrix.release("1809")) is None
    assert [(a.tag, a.go, a.commit) for a in matrix.argo] == [("v4.1.3", "1.26.6", "c" * 40),
                                                               ("v4.0.10", "1.25.12", "d" * 40)]
    assert matrix.lock.argo[0] == LockedArgo("v4.1.3", "c" * 40, "1.26.6", "2026-02-01T00:00:00Z")
    mirrored = dataclasses.replace(matrix, mirrors={"mcr.microsoft.com": "reg.local:5000/mcr"})
    assert mirrored.base_image(release) == f"reg.local:5000/mcr/windows/nanoserver@{DIGEST_A}"
    # Without a lock, or with ARGOEXEC_BUILDER_LOCK=none (the suite's setting), the tags and the matrix's argo.
    plain = load_matrix(matrix_path)
    assert plain.lock is None and plain.base_image(release) == "mcr.microsoft.com/windows/nanoserver:ltsc2022"
    assert plain.argo == matrix_facts.ARGO


def test_plan_and_render_show_the_locked_digest(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # the lock pins ltsc2022 only: outside CI, a warning
    matrix_path, lock_path = _with_lock(tmp_path)
    env = _env("http://unused.invalid", lock=None)  # the lock beside the matrix is found by itself
    result = invoke("plan", "--matrix", str(matrix_path), "--base", "ltsc2022,1809", "--json", env=env)
    assert result.returncode == 0, result.stderr
    plans = {p["id"]: p for p in json.loads(result.stdout)}
    assert plans["v4.1.3-windows-ltsc2022"]["base_image"] == f"mcr.microsoft.com/windows/nanoserver@{DIGEST_A}"
    assert plans["v4.1.3-windows-ltsc2022"]["base_tag"] == "mcr.microsoft.com/windows/nanoserver:ltsc2022"
    assert plans["v4.1.3-windows-1809"]["base_image"] == "mcr.microsoft.com/windows/nanoserver:1809"

    out = tmp_path / "rendered"
    result = invoke("render", "--matrix", str(matrix_path), "--base", "ltsc2022", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    dockerfile = (out / "v4.1.3-windows-ltsc2022" / "Dockerfile.windows").read_text()
    assert f"FROM mcr.microsoft.com/windows/nanoserver@{DIGEST_A}" in dockerfile
    assert f"mcr.microsoft.com/windows/servercore@{DIGEST_B}" in dockerfile
    # ARGOEXEC_BUILDER_LOCK=none ignores it.
    result = invoke("plan", "--matrix", str(matrix_path), "--base", "ltsc2022", "--json",
                    env=_env("http://unused.invalid", lock="none"))
    assert json.loads(result.stdout)[0]["base_image"] == "mcr.microsoft.com/windows/nanoserver:ltsc2022"


def test_a_malformed_lock_stops_every_task_with_exit_2(tmp_path):
    matrix_path, lock_path = _with_lock(tmp_path, _lock_document(schema="one"))
    result = invoke("plan", "--matrix", str(matrix_path), env=_env("http://unused.invalid", lock=None))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {lock_path}: schema: 'one' is not supported; expected 1; run "
                                          "`invoke refresh` to write it again"]


def test_a_locked_base_of_another_build_is_refused(tmp_path):
    document = _lock_document(bases={NANO: {"digest": DIGEST_A, "os_version": "10.0.26100.1"}})
    matrix_path, lock_path = _with_lock(tmp_path, document)
    with pytest.raises(MatrixError) as info:
        load_matrix(matrix_path, lock=lock_path)
    assert str(info.value).startswith(f'{lock_path}: bases["{NANO}"].os_version: 10.0.26100.1 is not of build')


def test_a_named_lock_that_is_missing(tmp_path):
    result = invoke("plan", "--matrix", str(_matrix_copy(tmp_path)),
                    env=_env("http://unused.invalid", lock=str(tmp_path / "nope.lock.json")))
    assert result.returncode == 2 and "nope.lock.json: no such file; run `invoke refresh`" in result.stderr


# ---------------------------------------------------------------------------------------------
# Refresh against the real registry


SOURCE_BUILDER = "dotnet/framework/runtime:4.8-windowsservercore-ltsc2019"


def _push_bases(registry, work, prefix: str) -> list:
    pushed = windows_images.push_windows_bases(registry.host, work, prefix=prefix)
    # 1809's source_builder: Microsoft's .NET Framework image of the same build, here a copy of its servercore.
    skopeo = infra.require_binary("skopeo")
    subprocess.run([skopeo, "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                    f"docker://{registry.host}/{prefix}/windows/servercore:ltsc2019",
                    f"docker://{registry.host}/{prefix}/{SOURCE_BUILDER}"], check=True, capture_output=True)
    return pushed


def _registry_digest(registry, reference: str) -> str:
    """The digest of the windows/amd64 image a tag names, as skopeo reads it from the registry."""
    skopeo = infra.require_binary("skopeo")
    raw = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"], check=True,
                         capture_output=True).stdout
    document = json.loads(raw)
    if "manifests" in document:
        (entry,) = [m for m in document["manifests"] if m["platform"]["os"] == "windows"]
        return entry["digest"]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _repush(registry, work, prefix: str, release: str, revision: int) -> str:
    """nanoserver:<release> published again with another revision (what Microsoft does each month)."""
    base = next(b for b in windows_images.BASES if b.release == release)
    version = f"{matrix_facts.BUILDS[release]}.{revision}"
    folder = work / f"nano-{release}-{revision}"
    windows_images.write_layout(folder, [{"Files/Windows/System32/cmd.exe": b"MZ cmd " + version.encode()}],
                                "windows", "amd64", version)
    windows_images.skopeo_copy(folder, f"{registry.host}/{prefix}/windows/nanoserver:{base.nanoserver}")
    return version


@pytest.fixture(scope="module")
def synthetic_bases(registry, tmp_path_factory):
    prefix = "refresh-mcr"
    return prefix, _push_bases(registry, tmp_path_factory.mktemp("refresh-bases"), prefix)


def _refresh(matrix, api, registry, prefix, *extra, token=TOKEN):
    return invoke("refresh", "--matrix", str(matrix), "--mirror", f"mcr.microsoft.com={registry.host}/{prefix}",
                  *extra, env=_env(api.url, token))


def test_refresh_locks_bases_and_releases_and_rewrites_nothing_when_nothing_moved(registry, api, tmp_path,
                                                                                   tmp_path_factory):
    prefix = "refresh-moving"
    work = tmp_path_factory.mktemp("moving")
    pushed = _push_bases(registry, work, prefix)
    matrix = _matrix_copy(tmp_path)
    lock_file = matrix.parent / "matrix.lock.json"

    result = _refresh(matrix, api, registry, prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    text = lock_file.read_text()
    lock = json.loads(text)
    assert text == json.dumps(lock, sort_keys=True, indent=2) + "\n"
    windows = matrix_facts.MATRIX.registries.windows
    expected_keys = {f"{windows}/{flavour}:{tag}" for b in pushed for flavour, tag in
                     (("nanoserver", b.nanoserver), ("servercore", b.servercore))}
    expected_keys.add(f"mcr.microsoft.com/{SOURCE_BUILDER}")
    assert set(lock["bases"]) == expected_keys  # keyed by the unmirrored references
    for base in pushed:
        for flavour, tag in (("nanoserver", base.nanoserver), ("servercore", base.servercore)):
            entry = lock["bases"][f"{windows}/{flavour}:{tag}"]
            assert entry["digest"] == _registry_digest(registry, f"{registry.host}/{prefix}/windows/{flavour}:{tag}")
            assert entry["os_version"] == base.os_version  # with its revision
    assert [(a["version"], a["commit"], a["go"]) for a in lock["argo"]] == [
        ("v4.1.2", commit_of(ARGO, "v4.1.2"), "1.26.5"), ("v4.0.10", commit_of(ARGO, "v4.0.10"), "1.25.12"),
        ("v3.7.18", commit_of(ARGO, "v3.7.18"), "1.25.7")]
    assert "argo: + v4.1.2, + v4.0.10, + v3.7.18" in result.stdout
    # The token went to the API on every request, and nowhere else.
    assert api.state.requests and all(r["authorization"] == f"Bearer {TOKEN}" for r in api.state.requests)
    assert TOKEN not in result.stdout + result.stderr + text

    since = _log_mark(registry)
    again = _refresh(matrix, api, registry, prefix)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines() == [f"{lock_file}: unchanged (15 bases, 3 Argo releases)"]
    assert lock_file.read_text() == text
    # A tag that has not moved costs one HEAD (an index tag is pinned with its own digest too).
    requests = re.findall(rf'"([A-Z]+) /v2/{re.escape(prefix)}/[^"]*" (\d+) ', registry.requests_log()[since:])
    assert sorted(requests) == [("HEAD", "200")] * len(expected_keys)
    assert lock["bases"][f"{windows}/nanoserver:1809"]["index"].startswith("sha256:")  # 1809's tag is an index

    # Microsoft publishes ltsc2022 again: --check says so, exit 1, and writes nothing.
    old_version = windows_images.os_version("ltsc2022")
    new_version = _repush(registry, work, prefix, "ltsc2022", 4405)
    checked = _refresh(matrix, api, registry, prefix, "--check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    key = f"{windows}/nanoserver:ltsc2022"
    old_digest = lock["bases"][key]["digest"]
    new_digest = _registry_digest(registry, f"{registry.host}/{prefix}/windows/nanoserver:ltsc2022")
    assert checked.stdout.strip().splitlines() == [
        f"nanoserver:ltsc2022 {old_digest[:19]}… -> {new_digest[:19]}… ({old_version} -> {new_version})"]
    assert "is out of date (1 change)" in checked.stderr
    assert lock_file.read_text() == text

    updated = _refresh(matrix, api, registry, prefix)
    assert updated.returncode == 0, updated.stderr
    now = json.loads(lock_file.read_text())
    assert now["bases"][key] == {"digest": new_digest, "os_version": new_version}
    assert {k: v for k, v in now["bases"].items() if k != key} == {k: v for k, v in lock["bases"].items() if k != key}
    assert now["argo"] == lock["argo"]


def test_refresh_follows_new_patch_releases_and_the_matrix_choice(registry, api, synthetic_bases, tmp_path):
    prefix, _ = synthetic_bases
    matrix = _matrix_copy(tmp_path)
    lock_file = matrix.parent / "matrix.lock.json"
    assert _refresh(matrix, api, registry, prefix).returncode == 0

    api.state.repositories[ARGO].append(StandinRelease("v4.1.3", "1.26.6", published_at="2026-02-10T00:00:00Z"))
    checked = _refresh(matrix, api, registry, prefix, "--check")
    assert checked.returncode == 1 and "argo: + v4.1.3, - v4.1.2" in checked.stdout
    result = _refresh(matrix, api, registry, prefix)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "argo: + v4.1.3, - v4.1.2"
    lock = json.loads(lock_file.read_text())
    assert [a["version"] for a in lock["argo"]] == ["v4.1.3", "v4.0.10", "v3.7.18"]
    assert lock["argo"][0] == {"version": "v4.1.3", "commit": commit_of(ARGO, "v4.1.3"), "go": "1.26.6",
                               "published_at": "2026-02-10T00:00:00Z"}
    # What the build then uses: the lock's releases, through the same matrix file.
    built = invoke("plan", "--matrix", str(matrix), "--argo", "all", "--base", "ltsc2022", "--json",
                   env=_env(api.url, lock=None))
    assert [p["argo"] for p in json.loads(built.stdout)] == ["v4.1.3", "v4.0.10", "v3.7.18"]

    # Release candidates only when asked.
    with_rc = matrix.read_text().replace("prereleases: false", "prereleases: true")
    matrix.write_text(with_rc)
    result = _refresh(matrix, api, registry, prefix)
    assert "argo: + v4.2.0-rc1, - v3.7.18" in result.stdout
    # The specifier filters.
    matrix.write_text(with_rc.replace('versions: ">=3.7"', 'versions: ">=3.7,<4.1"'))
    result = _refresh(matrix, api, registry, prefix)
    assert result.returncode == 0, result.stderr
    assert [a["version"] for a in json.loads(lock_file.read_text())["argo"]] == ["v4.0.10", "v3.7.18"]


def test_without_argo_releases_the_matrix_versions_are_locked(registry, api, synthetic_bases, tmp_path):
    prefix, _ = synthetic_bases
    text = matrix_facts.TEXT
    start = text.index("argo_releases:")
    text = text[:start] + text[text.index("\n\n", start) + 2:]
    text = text.replace("    go: 1.26.5\n", "    go: 1.26.4\n", 1)
    matrix = _matrix_copy(tmp_path, text)
    result = _refresh(matrix, api, registry, prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: argo v4.1.2: go.mod at the tag says go 1.26.5" in result.stdout
    lock = json.loads((matrix.parent / "matrix.lock.json").read_text())
    assert [(a["version"], a["go"]) for a in lock["argo"]] == [("v4.1.2", "1.26.5"), ("v4.0.10", "1.25.12"),
                                                               ("v3.7.18", "1.25.7")]
    assert all("published_at" not in a for a in lock["argo"])


def test_an_oci_build_uses_the_locked_digest_after_the_tag_moved(registry, api, tmp_path, tmp_path_factory,
                                                                 monkeypatch):
    prefix = "refresh-pinned"
    work = tmp_path_factory.mktemp("pinned")
    _push_bases(registry, work, prefix)
    matrix = _matrix_copy(tmp_path)
    lock_file = matrix.parent / "matrix.lock.json"
    assert _refresh(matrix, api, registry, prefix).returncode == 0
    locked = json.loads(lock_file.read_text())["bases"]["mcr.microsoft.com/windows/nanoserver:ltsc2022"]
    moved_to = _repush(registry, work, prefix, "ltsc2022", 4500)  # the tag moves after the refresh

    exe = tmp_path / "bin" / "argoexec.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"MZ" + bytes(range(256)) * 16)
    repo = f"{registry.host}/pinned/argoexec"
    env = {**_env(api.url, lock=str(lock_file)), "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")}
    result = invoke("build", "--matrix", str(matrix), "--builder", "oci", "--base", "ltsc2022", "--to", repo,
                    "--argoexec-exe", str(exe), "--results", str(tmp_path / "results"),
                    "--mirror", f"mcr.microsoft.com={registry.host}/{prefix}", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    skopeo = infra.require_binary("skopeo")
    config = json.loads(subprocess.run([skopeo, "inspect", "--config", "--tls-verify=false",
                                        f"docker://{repo}:v4.1.2-windows-ltsc2022"], check=True,
                                       capture_output=True).stdout)
    labels = config["config"]["Labels"]
    assert config["os.version"] == locked["os_version"] != moved_to
    assert labels["org.opencontainers.image.base.digest"] == locked["digest"]
    assert labels["org.opencontainers.image.base.name"] == f"{registry.host}/{prefix}/windows/nanoserver:ltsc2022"


def test_the_committed_dockerfiles_do_not_follow_the_lock(tmp_path):
    matrix_path, _ = _with_lock(tmp_path)
    result = invoke("render", "--check", "--matrix", str(matrix_path), env=_env("http://unused.invalid", lock=None))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_binary_of_another_commit_than_the_lock_pins_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # the lock pins ltsc2022 only: outside CI, a warning
    """The tag moved upstream after the refresh: the run builds what the lock says, or nothing."""
    matrix, lock = _with_lock(tmp_path)
    exe = tmp_path / "compiled" / "dist" / "bin" / "v4.1.3" / "windows-amd64" / "argoexec.exe"
    exe.parent.mkdir(parents=True)
    exe.write_bytes(b"MZ compiled")
    record = {"sha256": hashlib.sha256(exe.read_bytes()).hexdigest(), "git_commit": "e" * 40, "go_version": "go1.26.6"}
    exe.with_name("argoexec.exe.json").write_text(json.dumps(record))
    out = tmp_path / "oci"
    result = invoke("build", "--matrix", str(matrix), "--builder", "oci", "--base", "ltsc2022", "--argo", "v4.1.3",
                    "--compiled", str(tmp_path / "compiled"), "--out", str(out),
                    env={**os.environ, "ARGOEXEC_BUILDER_LOCK": str(lock)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
                                     f"error: v4.1.3: {lock} pins commit {'c' * 12}, but argoexec.exe was "
                                     f"compiled from {'e' * 12} (the tag moved since the refresh?); run `invoke "
                                     "refresh`, then compile again")
    assert not out.exists()  # nothing assembled


# -- the next link and secondary rate limits

def test_a_next_link_in_another_scheme_is_not_followed_and_gets_no_token(api):
    api.state.link_base = api.url.replace("http://", "https://")  # same host and port, another scheme
    with pytest.raises(ApiError, match=r"the next page is not on http://127\.0\.0\.1:\d+; not following it"):
        GitHub(api.url, token=TOKEN).releases(ARGO)
    assert len(api.state.requests) == 1


def test_a_relative_next_link_is_followed_on_the_api(api):
    api.state.link_base = ""
    assert len(GitHub(api.url, token=TOKEN).releases(ARGO)) == 8


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_is_waited_out_and_retried(api, status):
    api.state.secondary, api.state.secondary_status, api.state.secondary_retry_after = 1, status, "7"
    waited: list[float] = []
    found = GitHub(api.url, token=TOKEN, sleep=waited.append).releases(ARGO)
    assert len(found) == 8
    assert waited == [7.0]  # retry-after, not the backoff


def test_a_secondary_rate_limit_wait_is_bounded(api):
    api.state.secondary, api.state.secondary_retry_after = 1, "86400"
    waited: list[float] = []
    GitHub(api.url, token=TOKEN, sleep=waited.append).releases(ARGO)
    assert waited == [github_mod.MAX_SECONDARY_WAIT_S]


def test_a_secondary_rate_limit_that_persists_is_named(api):
    api.state.secondary, api.state.secondary_retry_after = 100, None
    waited: list[float] = []
    with pytest.raises(Unreachable) as info:
        GitHub(api.url, token=TOKEN, sleep=waited.append).releases(ARGO)
    message = str(info.value)
    assert "still over GitHub's secondary rate limit after 3 attempts (the last answered 403)" in message
    assert "may lack read access" not in message
    assert waited == [github_mod.MAX_SECONDARY_WAIT_S] * 2  # no retry-after: GitHub asks for at least a minute


def test_refresh_under_a_persistent_secondary_limit_is_exit_4(api, tmp_path, monkeypatch):
    api.state.secondary, api.state.secondary_retry_after = 100, "0"
    result = invoke("refresh", "--matrix", str(_matrix_copy(tmp_path)), env=_env(api.url, TOKEN))
    assert result.returncode == 4, result.stderr
    assert "secondary rate limit" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- published_at as the lock holds it

@pytest.mark.parametrize("given, locked", [
    ("2026-01-20T00:00:00Z", "2026-01-20T00:00:00Z"),
    ("2026-01-20T00:00:00+00:00", "2026-01-20T00:00:00Z"),
    ("2026-01-20T02:30:00+02:30", "2026-01-20T00:00:00Z"),
    ("2026-01-20T00:00:00.123456Z", "2026-01-20T00:00:00Z"),
    ("2026-01-20", None), ("yesterday", None), ("2026-01-20T00:00:00", None),
])
def test_published_at_is_normalised_to_utc_z(given, locked):
    assert refresh_mod.utc_time(given) == locked


def test_a_release_published_with_an_offset_is_locked_in_a_form_the_reader_takes(api):
    api.state.release(ARGO, "v4.1.2").published_at = "2026-01-20T05:30:00+05:30"
    matrix = load_matrix(matrix_facts.MATRIX_FILE, lock=False)
    said: list[str] = []
    locked = refresh_mod.resolve_argo(matrix, GitHub(api.url, token=TOKEN), said.append)
    lock = refresh_mod.Lock("matrix.lock.json", {}, locked)
    parsed = parse_lock(lock.text())
    assert {a.version: a.published_at for a in parsed.argo}["v4.1.2"] == "2026-01-20T00:00:00Z"


def test_an_index_entry_claiming_another_build_is_not_pinned(registry, synthetic_bases):
    """An index whose entry claims 10.0.20348.2966 but points at the 1809 image."""
    prefix, _ = synthetic_bases
    client = RegistryClient()
    honest = Reference.parse(f"{registry.host}/{prefix}/windows/nanoserver:1809")
    body, media_type, digest = client.get_manifest(honest)
    if media_type in INDEX_TYPES:
        (entry,) = [m for m in json.loads(body)["manifests"] if m["platform"]["os"] == "windows"]
    else:
        entry = {"mediaType": media_type, "digest": digest, "size": len(body)}
    lie = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": entry["mediaType"], "digest": entry["digest"], "size": entry["size"],
         "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.2966"}}]}
    lying = Reference.parse(f"{registry.host}/{prefix}/windows/nanoserver:lying-ltsc2022")
    client.put_manifest(lying, json.dumps(lie).encode(), OCI_INDEX)
    with pytest.raises(InputError) as info:
        refresh_mod.resolve_base(client, lying, 20348, "mcr.microsoft.com/windows/nanoserver:ltsc2022")
    message = str(info.value)
    assert "claims os.version 10.0.20348.2966" in message and "says 10.0.17763." in message
    assert "not pinned" in message


# -- a lock that lacks a base the matrix names

def test_a_lock_without_a_base_of_the_matrix_warns(tmp_path):
    matrix, _ = _with_lock(tmp_path)
    env = {**_env("http://unused.invalid", lock=None), "CI": "false"}
    result = invoke("plan", "--matrix", str(matrix), "--base", "ltsc2022", env=env)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "no pin for 13 base(s) the matrix names" in warning[0]
    assert "mcr.microsoft.com/windows/nanoserver:1809" in warning[0] and "invoke refresh" in warning[0]


def test_a_lock_without_a_base_of_the_matrix_fails_under_ci(tmp_path):
    matrix, lock = _with_lock(tmp_path)
    result = invoke("plan", "--matrix", str(matrix), "--base", "ltsc2022",
                    env={**_env("http://unused.invalid", lock=None), "CI": "true"})
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith(f"error: {lock}: bases: no pin for 13 base(s)")
    assert len(result.stderr.strip().splitlines()) == 1
