"""Invoke tasks: parse options, call ``builder``, print. No logic lives here.

Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for their flags.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from invoke import Collection, Exit, task

from builder import compat, report, targets
from builder import matrix as matrix_mod
from builder import plan as plan_mod
from builder import render as render_mod
from builder.errors import BuilderError, InputError, TargetFailed

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
    host, offered = _host(host_build, host_isolation)
    report.print_plan(plan_mod.make_plan(loaded, selected, host, offered), json)


@task(help={"host": "Host build, 10.0.B[.R] (e.g. 10.0.17763).",
            "image": "Image build (its os.version), 10.0.B[.R].",
            "json": 'Print {"process": bool, "hyperv": bool, "reason": str}.'})
@reports_errors
def compat_(c, host, image, json=False):
    """Say whether an image build runs on a host build, with process and with Hyper-V isolation, and why."""
    answer = compat.compat(_build(host, "--host"), _build(image, "--image"))
    report.print_compat(answer, host, image, json)


def _host(host_build, host_isolation):
    host = _build(host_build, "--host-build") if host_build else None
    offered = tuple(host_isolation or compat.ISOLATIONS)
    for mode in offered:
        if mode not in compat.ISOLATIONS:
            raise InputError(f"--host-isolation {mode}: expected one of: {', '.join(compat.ISOLATIONS)}")
    return host, offered


@task(
    help={**SELECT_HELP,
          "out": "Folder to write <target-id>/Dockerfile.windows into (default: build).",
          "binary": "Where argoexec.exe comes from: 'source' (build it from the Argo tree), 'prebuilt' (copy "
                    "argoexec.exe and 7za.exe from the build context) or 'auto' (the default: source where the "
                    "build host can run the base, else prebuilt).",
          "host_build": "Render for a Windows host of this build (decides whether `RUN argoexec version` can run).",
          "host_isolation": "Isolation modes that host offers (repeatable; default: process and hyperv).",
          "check": "Compare the committed dockerfiles/ (newest Argo, every base) with a fresh render; "
                   "exit 1 with a diff when they differ.",
          "update": "Rewrite the committed dockerfiles/ (newest Argo, every base) from the templates."},
    iterable=SELECT_ITERABLES + ["host_isolation"],
)
@reports_errors
def render(c, matrix=None, base=None, argo=None, only=None, skip=None, out="build", binary=render_mod.AUTO,
           host_build=None, host_isolation=None, check=False, update=False):
    """Render Dockerfile.windows for each selected target from dockerfiles/*.j2."""
    host, offered = _host(host_build, host_isolation)
    if check or update:
        # The committed tree is always the newest Argo version, every base, as the CI runners would build it.
        loaded = matrix_mod.load_matrix(matrix)
        selected = targets.select(loaded, "all", None)
        rendered = render_mod.render_all(loaded, plan_mod.make_plan(loaded, selected))
        if update:
            for path in render_mod.replace_tree(rendered, render_mod.TEMPLATES):
                print(path.relative_to(render_mod.TEMPLATES.parent))
            return
        diffs = render_mod.check(rendered, render_mod.TEMPLATES)
        if diffs:
            print("".join(diffs))
            raise TargetFailed(f"{len(diffs)} rendered Dockerfile(s) in dockerfiles/ differ from the templates; "
                               "run `invoke render --update` and commit the result")
        print(f"dockerfiles/: {len(rendered)} rendered Dockerfiles match the templates")
        return
    loaded, selected = _select(matrix, base, argo, only, skip)
    rendered = render_mod.render_all(loaded, plan_mod.make_plan(loaded, selected, host, offered), binary)
    for path in render_mod.write(rendered, Path(out)):
        print(path)


ns = Collection(plan, render)
ns.add_task(compat_, name="compat")
