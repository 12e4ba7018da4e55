"""Every malformed matrix is one error: FILE:LINE: key.path: what is wrong, what is expected (exit 2).

The corpus runs in-process against builder.matrix; a few cases go through the CLI to show the exit
code and the single line on stderr. Key paths of Windows releases are found by release name (not by
a fixed index), so a release added to matrix.yaml changes nothing here.
"""

from __future__ import annotations

import re

import pytest
from packaging.version import Version

from builder.errors import MatrixError
from builder.matrix import load_matrix, parse_matrix
from tests import matrix_facts
from tests.cli import invoke
from tests.matrix_facts import windows_key as w

MATRIX = matrix_facts.TEXT

CASES = [
    ("unknown-top-level-key", "mirrors: {}\n", "mirrors: {}\nextra: 1\n", "extra", "unknown key", 1),
    ("unknown-release-key", '  - name: "1903"\n', '  - name: "1903"\n    colour: blue\n',
     w("1903", "colour"), "unknown key; expected one of", 1),
    ("missing-required-key", '    servercore: "1909"\n', "", w("1909", "servercore"), "missing", -3),
    ("build-is-a-number", "build: 10.0.18362", "build: 10.0", w("1903", "build"), "quote it", 0),
    ("malformed-build", "build: 10.0.19041", "build: 10.0.19O41", w("2004", "build"), "10.0.BUILD", 0),
    ("build-not-windows-10", "build: 10.0.19042", "build: 11.0.19042", w("20H2", "build"), "10.0.BUILD", 0),
    ("build-with-revision", "build: 10.0.26100", "build: 10.0.26100.2894", w("ltsc2025", "build"), "revision", 0),
    ("duplicate-release-name", '  - name: "2004"', '  - name: "1909"', w("2004", "name"), "already declared", 0),
    ("duplicate-alias", 'aliases: ["2022"]', 'aliases: ["1809"]', w("ltsc2022", "aliases"), "already declared", 0),
    ("duplicate-build", "build: 10.0.18363", "build: 10.0.18362", w("1909", "build"), "aliases", 0),
    ("duplicate-yaml-key", "    nanoserver: 20H2\n", "    nanoserver: 20H2\n    nanoserver: 20H2\n",
     w("20H2", "nanoserver"), "duplicate key", 1),
    ("tag-breaks-oci-grammar", "nanoserver: ltsc2025", 'nanoserver: "ltsc 2025"', w("ltsc2025", "nanoserver"),
     "image tag", 0),
    ("tag-with-newline", "servercore: ltsc2025", 'servercore: "ltsc2025\\nRUN evil"', w("ltsc2025", "servercore"),
     "image tag", 0),
    ("impossible-date", "end_of_support: 2021-05-11", "end_of_support: 2021-13-45",
     w("1909", "end_of_support"), "not a valid", 0),
    ("not-a-date", "end_of_support: 2022-08-09", "end_of_support: soon", w("20H2", "end_of_support"),
     "YYYY-MM-DD", 0),
    ("bad-status", "status: supported", "status: maybe", w("1809", "status"), "supported, end-of-life", 0),
    ("release-name-is-a-number", '  - name: "1903"', "  - name: 1903", w("1903", "name"), 'quote it: "1903"', 0),
    ("argo-version-without-v", "version: v4.0.10", "version: 4.0.10", "argo[1].version", "v4.1.2", 0),
    ("duplicate-argo-version", "version: v3.7.18", "version: v4.1.2", "argo[2].version", "listed twice", 0),
    ("go-version-is-a-number", "go: 1.25.7", "go: 1.25", "argo[2].go", "quote", 0),
    ("argo-base-unknown-release", "    go: 1.26.5\n", "    go: 1.26.5\n    bases: [\"1809\", 2019H2]\n",
     "argo[0].bases[1]", "unknown release '2019H2'", 1),
    ("unknown-isolation", "isolation: [process]\n    labels: [windows-2022]",
     "isolation: [process, hyper-v]\n    labels: [windows-2022]", "runners[1].isolation[1]",
     "process, hyperv", 0),
    ("hosted-runner-with-hyperv", "isolation: [process]\n    labels: [windows-2025]",
     "isolation: [process, hyperv]\n    labels: [windows-2025]", "runners[2].isolation", "nested", 0),
    ("runner-host-build-malformed", "host_build: 10.0.26100", "host_build: ltsc2025", "runners[2].host_build",
     "10.0.BUILD", 0),
    ("duplicate-runner-name", "  - name: windows-2025", "  - name: windows-2022", "runners[2].name",
     "declared twice", 0),
    ("duplicate-runner-labels", "labels: [windows-2025]", "labels: [windows-2022]", "runners[2].labels",
     "tell them apart", 0),
    ("unknown-build-runner", "    servercore: ltsc2019\n", "    servercore: ltsc2019\n    build_runner: ws2022\n",
     w("1809", "build_runner"), "unknown runner 'ws2022'", 1),
    ("build-runner-cannot-build", "    servercore: ltsc2019\n",
     "    servercore: ltsc2019\n    build_runner: windows-2022\n", w("1809", "build_runner"), "cannot build", 1),
    ("repository-uppercase", "image: argoexec-builder/argoexec", "image: ArgoExec/Builder", "registries.image",
     "repository", 0),
    ("destination-bad", "local: localhost:5000/argoexec", "local: 'localhost:5000/argo exec'",
     "registries.destinations.local", "repository", 0),
    ("mirror-bad-target", "mirrors: {}", 'mirrors: {mcr.microsoft.com: "bad mirror"}', "mirrors.mcr.microsoft.com",
     "reg.local:5000/mcr", 0),
    ("schema-unsupported", "schema: 1", "schema: 2", "schema", "expected 1", 0),
    ("destinations-not-a-mapping", "destinations:\n    local: localhost:5000/argoexec",
     "destinations: [localhost:5000/argoexec]", "registries.destinations", "expected a mapping", 0),
    ("aliases-not-a-list", 'aliases: ["2022"]', 'aliases: "2022"', w("ltsc2022", "aliases"), "expected a list", 0),
    ("yaml-syntax-error", "labels: [windows-2025]", "labels: [windows-2025", "", "invalid YAML", 1),
    ("argo-releases-bad-specifier", 'versions: ">=3.7"', 'versions: "3.7+"', "argo_releases.versions",
     "PEP 440 specifier", 0),
    ("argo-releases-specifier-not-a-string", 'versions: ">=3.7"', "versions: 3.7", "argo_releases.versions",
     "expected a string", 0),
    ("argo-releases-newest-zero", "newest_minors: 3", "newest_minors: 0", "argo_releases.newest_minors",
     "whole number from 1", 0),
    ("argo-releases-newest-not-a-number", "newest_minors: 3", "newest_minors: all", "argo_releases.newest_minors",
     "whole number from 1", 0),
    ("argo-releases-prereleases-not-a-boolean", "prereleases: false", "prereleases: sometimes",
     "argo_releases.prereleases", "true or false", 0),
    ("argo-releases-repository-a-url", "repository: argoproj/argo-workflows",
     "repository: https://github.com/argoproj/argo-workflows", "argo_releases.repository", "owner/name", 0),
    ("argo-releases-unknown-key", "  prereleases: false\n", "  prereleases: false\n  latest: true\n",
     "argo_releases.latest", "unknown key", 1),
    ("argo-releases-missing-key", "  newest_minors: 3\n", "", "argo_releases.newest_minors", "missing", -2),
    ("publish-unknown-destination", "publish: local", "publish: nightly", "registries.publish",
     "registries.destinations (local)", 0),
    ("publish-not-a-repository", "publish: local", "publish: Reg.Example/Argo Exec", "registries.publish",
     "REGISTRY/REPO", 0),
]


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _malformed(old: str, new: str, offset: int) -> tuple[str, int]:
    """matrix.yaml with the first ``old`` replaced by ``new``, and the line the error must name."""
    assert old in MATRIX, f"fixture text {old!r} no longer in matrix.yaml"
    index = MATRIX.index(old)
    text = MATRIX[:index] + new + MATRIX[index + len(old):]
    return text, _line_of(text, index) + offset


def _prefix(file: str, line: int, key_path: str) -> str:
    return f"{file}:{line}: " + (f"{key_path}: " if key_path else "")


FILE = "site/matrix.yaml"  # the name the message must carry, whatever it is


@pytest.mark.parametrize("case_id,old,new,key_path,words,offset", CASES, ids=[c[0] for c in CASES])
def test_malformed_matrix_is_one_located_error(case_id, old, new, key_path, words, offset):
    text, expected_line = _malformed(old, new, offset)

    with pytest.raises(MatrixError) as info:
        parse_matrix(text, FILE)

    error = info.value
    assert error.exit_code == 2
    assert (error.file, error.line, error.path) == (FILE, expected_line, key_path)
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    prefix = _prefix(FILE, expected_line, key_path)
    assert message.startswith(prefix), f"{message!r} does not start with {prefix!r}"
    assert message == prefix + error.problem
    assert words in error.problem


CLI_CASES = [c for c in CASES if c[0] in ("unknown-top-level-key", "yaml-syntax-error", "build-runner-cannot-build")]


@pytest.mark.parametrize("case_id,old,new,key_path,words,offset", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_malformed_matrix_gives_one_line_and_exit_2(tmp_path, case_id, old, new, key_path, words, offset):
    text, expected_line = _malformed(old, new, offset)
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    with pytest.raises(MatrixError) as info:
        load_matrix(path)
    message = str(info.value)
    assert message.startswith(_prefix(str(path), expected_line, key_path)) and words in message

    result = invoke("plan", "--matrix", str(path), "--base", "all")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {message}"], result.stderr


def test_missing_matrix_file(tmp_path):
    result = invoke("plan", "--matrix", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file; pass --matrix PATH to an " \
                                    "existing matrix.yaml"


@pytest.mark.parametrize("text,line,words", [
    ("", 1, "the file is empty"),
    ("- 1\n- 2\n", 1, "expected a mapping"),
    ("schema: 1\nwindows: []\nargo: []\nrunners: []\nregistries: {}\n", 2, "windows: empty"),
])
def test_degenerate_files(text, line, words):
    with pytest.raises(MatrixError) as info:
        parse_matrix(text, "m.yaml")
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"m.yaml:{line}: ") and words in str(info.value)


# Microsoft's build of each release the project has always listed (the facts, not a list of the matrix).
MICROSOFT_BUILDS = {"1809": "10.0.17763", "1903": "10.0.18362", "1909": "10.0.18363", "2004": "10.0.19041",
                    "20H2": "10.0.19042", "ltsc2022": "10.0.20348", "ltsc2025": "10.0.26100"}


def test_the_project_matrix_is_valid_and_complete():
    matrix = load_matrix()
    builds = {r.name: r.build.base for r in matrix.releases}
    assert {name: builds.get(name) for name in MICROSOFT_BUILDS} == MICROSOFT_BUILDS  # more may be added
    assert {a.tag for a in matrix.argo} >= {"v3.7.18", "v4.0.10", "v4.1.2"}
    assert matrix.newest_argo.version == max(a.version for a in matrix.argo) >= Version("4.1.2")
    assert {r.host_build.build for r in matrix.runners} >= {17763, 20348, 26100}
    assert all(re.match(r"^[a-z0-9.-]+(/[a-z0-9._-]+)+$", matrix.registries.windows) for _ in [0])


def test_adding_a_release_is_one_entry():
    name, build = matrix_facts.FICTIONAL_NAME, matrix_facts.FICTIONAL_BUILD
    assert matrix_facts.MATRIX.release(name) is None
    matrix = parse_matrix(matrix_facts.with_release(name, build))
    added = matrix.release(name)
    assert added is not None and str(added.build) == build and (added.nanoserver, added.servercore) == (name, name)
    assert matrix.releases == (*matrix_facts.RELEASES, added)
    assert (matrix.argo, matrix.runners, matrix.hosts) == (matrix_facts.ARGO, matrix_facts.RUNNERS,
                                                           matrix_facts.HOSTS)
    assert matrix.base_image(added) == f"mcr.microsoft.com/windows/nanoserver:{name}"


def test_publish_names_a_destination_or_a_repository():
    assert matrix_facts.MATRIX.registries.publish == matrix_facts.MATRIX.registries.destinations["local"]
    other = parse_matrix(MATRIX.replace("publish: local", "publish: registry.example:5000/argoexec"))
    assert other.registries.publish == "registry.example:5000/argoexec"
    assert parse_matrix(MATRIX.replace("  publish: local\n", "")).registries.publish is None


def test_argo_releases_are_optional():
    assert matrix_facts.MATRIX.argo_releases.newest_minors == 3
    start = MATRIX.index("argo_releases:")
    without = MATRIX[:start] + MATRIX[MATRIX.index("\n\n", start) + 2:]
    assert parse_matrix(without).argo_releases is None


def test_mirrors_rewrite_base_images(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("mirrors: {}", "mirrors:\n  mcr.microsoft.com: 127.0.0.1:5000/mcr\n"))
    matrix = load_matrix(path)
    assert matrix.base_image(matrix.release("1909")) == "127.0.0.1:5000/mcr/windows/nanoserver:1909"
    assert matrix.mirrored("quay.io/argoproj/argoexec:v4.1.2") == "quay.io/argoproj/argoexec:v4.1.2"
