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
_VERSION_LINE_RE = re.compile(r"^argoexec: (\S+)\s*$", re.MULTILINE)

Verdict = tuple[str, str]  # (status, why)


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    oses: tuple[str, ...] = ("windows", "linux")  # the targets it applies to, by os
    smoke: bool = True  # run in a container of the image (False: the build itself)
    entrypoint: tuple[str, ...] | None = None  # None: the image's own (argoexec)
    command: Callable[[Target], list[str]] | None = None
    judge_output: Callable[[Target, str], Verdict] | None = None  # given an exit code of 0

    def applies(self, target: Target) -> bool:
        return target.os in self.oses

    def judge(self, target: Target, exit_code: int | None, output: str) -> Verdict:
        """(status, why) of one run from the container's exit code and output."""
        if exit_code is None:
            return ERROR, "timed out"
        if exit_code != 0:
            return FAIL, f"exit code {exit_code}"
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
HELLO_WINDOWS_CHECK = Check(
    "hello-windows", "cmd.exe in the image prints the hello-windows greeting", oses=("windows",),
    entrypoint=("cmd", "/c"), command=lambda target: ["echo", HELLO_WINDOWS], judge_output=_expects(HELLO_WINDOWS))
HELLO_LINUX_CHECK = Check(
    "hello-linux", "sh in the image prints the hello-linux greeting", oses=("linux",),
    entrypoint=("sh", "-c"), command=lambda target: [f"echo {HELLO_LINUX}"], judge_output=_expects(HELLO_LINUX))
# Run on an Argo cluster by `invoke smoke --cluster` (builder/cluster.py), not in a container of the image:
# smoke=False keeps it out of smoke_checks() and the table's cells (the pod runs the executor the cluster's
# controller is configured with, which need not be the image under test).
WORKFLOW_CHECK = Check("workflow", "hello-windows as a workflow on an Argo cluster (invoke smoke --cluster)",
                       oses=("windows",), smoke=False)

CHECKS = (BUILD, ARGOEXEC_VERSION, HELLO_WINDOWS_CHECK, HELLO_LINUX_CHECK, WORKFLOW_CHECK)
NAMES = tuple(check.name for check in CHECKS)


def smoke_names(os: str) -> tuple[str, ...]:
    """The smoke checks a target of this os runs: the checks that judge a cell of the table."""
    return tuple(check.name for check in CHECKS if check.smoke and os in check.oses)


def smoke_checks(target: Target) -> list[Check]:
    """The smoke checks of a target, in the order they run."""
    return [check for check in CHECKS if check.smoke and check.applies(target)]


def by_name(name: str) -> Check | None:
    return next((check for check in CHECKS if check.name == name), None)
