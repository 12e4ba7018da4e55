"""Every RUN line of the rendered Windows Dockerfiles, as a Windows engine would run it.

No Windows engine runs here, so each RUN goes through tests/windows_cmdline.py, which emulates the
documented rules (sources in its docstring): moby's classic builder on Windows (shell form: the raw text
appended to the SHELL words as one command line; exec form: each argument escaped), the program's own
command-line splitting (CommandLineToArgvW / the MSVC runtime, MSYS for bash), PowerShell's `-Command`
joining and its grammar for native commands, and `bash -c`. The tests assert the argv that finally runs.
"""

from __future__ import annotations

import json

import pytest

from builder import render
from builder.matrix import load_matrix
from builder.plan import make_plan
from builder.targets import select
from tests import matrix_facts
from tests import windows_cmdline as wincmd

MATRIX = load_matrix()
BUILD_ARGS = {"GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567", "GIT_TAG": matrix_facts.NEWEST_ARGO,
              "GIT_TREE_STATE": "clean"}
CHOCOLATEY_BOOTSTRAP = ("iex ((New-Object System.Net.WebClient).DownloadString("
                        "'https://community.chocolatey.org/install.ps1'))")


def _runs(text: str) -> list[tuple[str, list[str] | None, dict[str, str]]]:
    """(RUN instruction, SHELL in effect (None: the default), ENV and ARG values) of each RUN, stage by stage."""
    runs, shell, env = [], None, {}
    for line in wincmd.logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            shell, env = None, {}
        elif keyword == "SHELL":
            shell = json.loads(rest)
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            env[name] = BUILD_ARGS.get(name, default)
        elif keyword == "RUN":
            runs.append((line, shell, dict(env)))
    return runs


def _rendered(base: str, variant: str) -> str:
    release = MATRIX.release(base)
    # On a host of the base's own build, where the windows-source variant can run its steps.
    (planned,) = make_plan(MATRIX, select(MATRIX, base), release.build)
    return render.render_windows(MATRIX, planned, variant).text


@pytest.mark.parametrize("base", matrix_facts.RELEASE_NAMES)
def test_the_make_line_gives_make_its_target_and_every_git_value(base):
    runs = _runs(_rendered(base, render.WINDOWS_SOURCE))
    (make_run,) = [run for run in runs if "dist/argoexec" in run[0]]
    line, shell, env = make_run
    argv = wincmd.final_argv(line, shell, env)
    assert argv[:2] == ["bash", "-c"]
    make = wincmd.bash_c_words(argv, env)
    assert make[:2] == ["make", "dist/argoexec"]
    assert {f"{name}={value}" for name, value in BUILD_ARGS.items()} <= set(make[2:])
    assert "HACK_PKG_FILES_AS_PKGS=true" in make


def test_the_old_shell_form_make_line_lost_its_target():
    """The line this project rendered before: shell form under a PowerShell SHELL. PowerShell's -Command
    joins its arguments after CommandLineToArgvW removed the double quotes, so bash ran a bare `make`."""
    shell = ["powershell", "-NoProfile", "-Command", "$ErrorActionPreference = 'Stop';"]
    line = ('RUN bash -c "make dist/argoexec GIT_COMMIT=${env:GIT_COMMIT} GIT_TAG=${env:GIT_TAG} '
            'GIT_TREE_STATE=${env:GIT_TREE_STATE} HACK_PKG_FILES_AS_PKGS=true"')
    argv = wincmd.final_argv(line, shell, BUILD_ARGS)
    assert argv[:3] == ["bash", "-c", "make"]
    assert wincmd.bash_c_words(argv[:3], BUILD_ARGS) == ["make"]


@pytest.mark.parametrize("base", matrix_facts.RELEASE_NAMES)
def test_every_toolchain_line_runs_the_command_it_says(base):
    release = MATRIX.release(base)
    go = MATRIX.newest_argo.go
    expected = {
        "choco feature disable": ["choco", "feature", "disable", "--name", "showDownloadProgress"],
        "choco feature enable": ["choco", "feature", "enable", "--name", "allowGlobalConfirmation"],
        "choco install golang": ["choco", "install", "golang", f"--version={go}", "--no-progress"],
        "choco install make": ["choco", "install", "make", "git.portable", "7zip.portable", "--no-progress"],
        "argoexec version": ["argoexec", "version"],
    }
    seen = set()
    for line, shell, env in _runs(_rendered(base, render.WINDOWS_SOURCE)):
        if "dist/argoexec" in line:
            continue
        if "iex " in line:
            # The Chocolatey bootstrap is a PowerShell expression, not a native command: what the emulator
            # checks is that PowerShell gets the whole script, quotes and parentheses intact.
            assert _powershell_script(line, shell).endswith("; " + CHOCOLATEY_BOOTSTRAP)
            seen.add("iex")
            continue
        key = next(k for k in expected if k in line)
        assert wincmd.final_argv(line, shell, env) == expected[key], (base, line)
        seen.add(key)
    assert seen == {"iex", *expected}, f"{base} ({release.build}): RUN lines not checked: {set(expected) - seen}"


def _powershell_script(line: str, shell: list[str]) -> str:
    """The script powershell.exe runs for a shell-form RUN: moby's command line, split by the rules
    powershell.exe uses, the arguments after -Command joined with spaces."""
    run = wincmd.parse_run(line)
    command_line = wincmd.container_command_line(run, shell)
    return wincmd.powershell_script(wincmd.command_line_to_argv(command_line))


@pytest.mark.parametrize("base", matrix_facts.RELEASE_NAMES)
def test_the_copy_variant_runs_nothing_but_the_version_check(base):
    runs = _runs(_rendered(base, render.COPY))
    assert [wincmd.final_argv(line, shell, env) for line, shell, env in runs] == [["argoexec", "version"]]


def test_1809s_toolchain_stage_has_dotnet_48():
    text = _rendered("1809", render.WINDOWS_SOURCE)
    assert "FROM mcr.microsoft.com/dotnet/framework/runtime:4.8-windowsservercore-ltsc2019 AS toolchain" in text
    # netapi32.dll still comes from the plain servercore of the same build.
    assert "FROM mcr.microsoft.com/windows/servercore:ltsc2019 AS builder" in text
