"""Every check a record can carry, as data: its name, what runs, how it is judged, where it applies.

``build`` is the builders' own check (did the image get made); the others are smoke checks run in
a container of the image. The results store accepts exactly these names, the table judges a cell
on the smoke checks of Windows targets, and ``invoke smoke`` runs ``smoke_checks(target)``.
Adding a check is one ``Check`` in ``CHECKS`` plus its tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .targets import Target

PASS, FAIL, ERROR, NOT_RUNNABLE = "pass", "fail", "error", "not-runnable"
STATUSES = (PASS, FAIL, ERROR, NOT_RUNNABLE)

HELLO_WINDOWS = "Hello from Windows Container!"
HELLO_LINUX = "Hello from Linux Container!"
_VERSION_LINE_RE = re.compile(r"^argoexec: (\S+)\s*$", re.MULTILINE | re.ASCII)

Verdict = tuple[str, str]  # (status, why)


IMAGE, POD = "image", "pod"


@dataclass(frozen=True)
class Check:
    """One check. ``kind`` says how it runs:

    - ``image``: one container of the image under test (``entrypoint`` + ``command``);
    - ``pod``: the way a workflow pod runs the executor (smoke.run_pod): init from the image under test
      copies argoexec into a fresh volume, then the main container, from the stock base image of the
      target's build, runs ``command`` through ``argoexec emissary`` (or, with ``emissary`` False,
      runs ``argoexec command`` straight from the volume).
    """

    name: str
    description: str
    oses: tuple[str, ...] = ("windows", "linux")  # the targets it applies to, by os
    smoke: bool = True  # run in a container (False: the build itself)
    entrypoint: tuple[str, ...] | None = None  # image checks; None: the image's own (argoexec)
    command: Callable[[Target], list[str]] | None = None
    judge_output: Callable[[Target, str], Verdict] | None = None  # given the expected exit code
    kind: str = IMAGE
    exit_code: int = 0  # what a pass needs: the container's exit code (pod checks: also ctr/main/exitcode)
    emissary: bool = True  # pod checks: the main command runs under argoexec emissary
    # pod checks: the path of a file main writes, named by the template as an output parameter (valueFrom.path),
    # and the value it holds; emissary must save it under /var/run/argo/outputs/parameters
    output_parameter: Callable[[Target], tuple[str, str]] | None = None
    # Whether a failure makes the cell "verified: fails". A check of one Argo feature (not of whether the executor
    # runs) sets ``limitation``: its failure is shown as what does not work there, the cell is judged on the rest.
    limitation: str | None = None

    def applies(self, target: Target) -> bool:
        return target.os in self.oses

    def argv(self, target: Target) -> list[str]:
        """What the check runs for ``target``; only a check with a ``command`` runs in a container."""
        if self.command is None:
            raise TypeError(f"check {self.name} runs no command")
        return self.command(target)

    def judge(self, target: Target, exit_code: int | None, output: str) -> Verdict:
        """(status, why) of one run from the container's exit code and output."""
        if exit_code is None:
            return ERROR, "timed out"
        if exit_code != self.exit_code:
            return FAIL, f"exit code {exit_code}" + (f", expected {self.exit_code}" if self.exit_code else "")
        return self.judge_output(target, output) if self.judge_output else (PASS, "")


def _judge_version(target: Target, output: str) -> Verdict:
    # argoexec's version command prints `argoexec: <version>` first; the version is the tag, or
    # `<tag>+<commit>` for an untagged build (upstream version.go), and `Platform: os/arch` below.
    match = _VERSION_LINE_RE.search(output)
    if not match:
        return FAIL, "no `argoexec: <version>` line"
    version = match.group(1)
    if version != target.argo.tag and not version.startswith(target.argo.tag + "+"):
        return FAIL, f"reports version {version}, built from {target.argo.tag}"
    if f"Platform: {target.platform}" not in output:
        return FAIL, f"does not report Platform: {target.platform}"
    return PASS, ""


def _expects(greeting: str) -> Callable[[Target, str], Verdict]:
    def judge(target: Target, output: str) -> Verdict:
        return (PASS, "") if greeting in output else (FAIL, f"output lacks {greeting!r}")
    return judge


BUILD = Check("build", "the image was built or assembled", smoke=False)
ARGOEXEC_VERSION = Check(
    "argoexec-version", "`argoexec version` runs and names the Argo tag and platform",
    command=lambda target: ["version"], judge_output=_judge_version)
# The pod-shaped checks. upstream's examples/hello-windows.yaml runs `cmd /c echo "Hello from Windows
# Container!"` in a stock nanoserver; examples/hello-hybrid.yaml adds `echo "Hello from Linux Container!"`.
HELLO_WINDOWS_CHECK = Check(
    "hello-windows", "hello-windows as a pod runs it: init copies argoexec into the volume, emissary runs "
    "cmd in the stock nanoserver", oses=("windows",), kind=POD,
    command=lambda target: ["cmd", "/c", "echo", HELLO_WINDOWS], judge_output=_expects(HELLO_WINDOWS))
HELLO_LINUX_CHECK = Check(
    "hello-linux", "hello-linux as a pod runs it: init copies argoexec into the volume, emissary runs sh in "
    "the stock base", oses=("linux",), kind=POD,
    command=lambda target: ["sh", "-c", f"echo {HELLO_LINUX}"], judge_output=_expects(HELLO_LINUX))
EXIT_CODE_CHECK = Check(
    "emissary-exit-code", "a step that exits 3: emissary passes the code on and writes it to ctr/main/exitcode",
    kind=POD, exit_code=3,
    command=lambda target: ["cmd", "/c", "exit", "3"] if target.is_windows else ["sh", "-c", "exit 3"])
ARGOEXEC_IN_BASE = Check(
    "argoexec-in-base", "`argoexec version` from the volume in the stock base (no netapi32.dll in nanoserver)",
    kind=POD, emissary=False, command=lambda target: ["version"], judge_output=_judge_version)
# An output parameter with a path in the target's own spelling: a Windows path on Windows (C:\Windows\Temp lets
# BUILTIN\Users create files, and main runs as ContainerUser), a Linux one on Linux. emissary's saveParameter
# (cmd/argoexec/commands/emissary.go) copies the file to /var/run/argo/outputs/parameters/<path as written>, where
# the wait container's GetFileContents reads it (workflow/executor/emissary/emissary.go).
OUTPUT_PARAMETER_VALUE = "hello-parameter"


def _output_parameter(target: Target) -> tuple[str, str]:
    if target.is_windows:
        return "C:\\Windows\\Temp\\argo-output-parameter.txt", OUTPUT_PARAMETER_VALUE
    return "/tmp/argo-output-parameter.txt", OUTPUT_PARAMETER_VALUE


def _write_output_parameter(target: Target) -> list[str]:
    path, value = _output_parameter(target)
    if target.is_windows:
        return ["cmd", "/c", f"echo {value}>{path}"]
    return ["sh", "-c", f"echo {value} > {path}"]


OUTPUT_PARAMETER_CHECK = Check(
    "output-parameter", "main writes a file the template names as an output parameter (a Windows path on Windows); "
    "emissary saves it under /var/run/argo/outputs/parameters as upstream's saveParameter does",
    kind=POD, command=_write_output_parameter, output_parameter=_output_parameter,
    # Read from upstream's source (docs/argo.md, saveParameter): a Windows path lands its drive letter's colon in a
    # folder name. That is Argo's behaviour whatever the image, so it must not mark the image as failing to run.
    limitation="output parameters named by a Windows path are not saved (upstream's saveParameter; docs/argo.md)")
# Run on an Argo cluster by `invoke smoke --cluster` (builder/cluster.py), not in a container of the image:
# smoke=False keeps it out of smoke_checks() (an engine's runs). The workflow pins the image under test as its
# executor (podSpecPatch), so its records judge a cell of the table like a runner's (table.CELL_CHECKS).
WORKFLOW_CHECK = Check("workflow", "hello-windows as a workflow on an Argo cluster (invoke smoke --cluster)",
                       oses=("windows",), smoke=False)

CHECKS = (BUILD, ARGOEXEC_VERSION, HELLO_WINDOWS_CHECK, HELLO_LINUX_CHECK, EXIT_CODE_CHECK, ARGOEXEC_IN_BASE,
          OUTPUT_PARAMETER_CHECK, WORKFLOW_CHECK)
NAMES = tuple(check.name for check in CHECKS)


def smoke_names(os: str) -> tuple[str, ...]:
    """The smoke checks a target of this os runs: the checks that judge a cell of the table."""
    return tuple(check.name for check in CHECKS if check.smoke and os in check.oses)


def smoke_checks(target: Target) -> list[Check]:
    """The smoke checks of a target, in the order they run."""
    return [check for check in CHECKS if check.smoke and check.applies(target)]


def by_name(name: str) -> Check | None:
    return next((check for check in CHECKS if check.name == name), None)
