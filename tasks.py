"""Invoke tasks: parse options, call ``builder``, print. No logic lives here.

Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for their flags.
"""

from __future__ import annotations

import functools
import os

from invoke import Collection, Exit, task

from builder import compat, report, targets
from builder import matrix as matrix_mod
from builder import plan as plan_mod
from builder.errors import BuilderError, InputError

SELECT_HELP = {
    "matrix": "Path of the matrix file (default: matrix.yaml of this project).",
    "base": "Windows base to select (repeatable, or comma-separated; 'all' for every base).",
    "argo": "Argo version to select (repeatable; 'all'; default: the newest in the matrix).",
    "only": "Glob on target ids to keep, e.g. 'v4.1.2-windows-1*' (repeatable).",
    "skip": "Glob on target ids to drop (repeatable).",
}
SELECT_ITERABLES = ["base", "argo", "only", "skip"]


def reports_errors(body):
    """Turn the tool's errors into one line on stderr and their exit code (no traceback)."""

    @functools.wraps(body)
    def run(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except BuilderError as exc:
            if os.environ.get("ARGOEXEC_BUILDER_DEBUG"):
                raise
            raise Exit(f"error: {exc}", code=exc.exit_code) from None

    return run


def _build(value: str, flag: str) -> compat.WindowsBuild:
    try:
        return compat.WindowsBuild.parse(value)
    except ValueError as exc:
        raise InputError(f"{flag} {value}: {exc}") from None


def _select(matrix, base, argo, only, skip):
    loaded = matrix_mod.load_matrix(matrix)
    return loaded, targets.select(loaded, base, argo, only, skip)


@task(
    help={**SELECT_HELP,
          "json": "Print a JSON list of targets instead of a table.",
          "host_build": "Plan for a Windows host of this build (10.0.B[.R]) instead of the CI runners.",
          "host_isolation": "Isolation modes that host offers (repeatable; default: process and hyperv)."},
    iterable=SELECT_ITERABLES + ["host_isolation"],
)
@reports_errors
def plan(c, matrix=None, base=None, argo=None, only=None, skip=None, json=False, host_build=None,
         host_isolation=None):
    """List the selected targets: base image, os.version, how and where each builds and is smoke-tested."""
    loaded, selected = _select(matrix, base, argo, only, skip)
    host = _build(host_build, "--host-build") if host_build else None
    offered = tuple(host_isolation or compat.ISOLATIONS)
    for mode in offered:
        if mode not in compat.ISOLATIONS:
            raise InputError(f"--host-isolation {mode}: expected one of: {', '.join(compat.ISOLATIONS)}")
    report.print_plan(plan_mod.make_plan(loaded, selected, host, offered), json)


@task(help={"host": "Host build, 10.0.B[.R] (e.g. 10.0.17763).",
            "image": "Image build (its os.version), 10.0.B[.R].",
            "json": 'Print {"process": bool, "hyperv": bool, "reason": str}.'})
@reports_errors
def compat_(c, host, image, json=False):
    """Say whether an image build runs on a host build, with process and with Hyper-V isolation, and why."""
    answer = compat.compat(_build(host, "--host"), _build(image, "--image"))
    report.print_compat(answer, host, image, json)


ns = Collection(plan)
ns.add_task(compat_, name="compat")
