"""The nightly CI matrix, generated from matrix.yaml through the plan (docker-library's habit).

Each runner builds (docker) what its host can build natively and smoke-tests what its host can
run; the bases no runner can build are assembled daemonlessly (oci) on a Linux job, so every
Windows target is routed somewhere: none is silently skipped. The planner decides all of it
(``PlannedTarget.runner``, ``build_site``, ``smoke``); this module only lays the plan out as jobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .errors import InputError
from .matrix import Matrix
from .plan import ASSEMBLE, PlannedTarget

# The self-hosted runners that exist, by name (comma-separated): the nightly passes it from the repository
# variable of the same name. A job for a runner nobody registered queues for GitHub's 24 hours, holding smoke,
# publish and (through the concurrency group) the next night; so a self-hosted runner enters the CI matrix only
# when this names it. Hosted runners always exist.
SELF_HOSTED_ENV = "ARGOEXEC_SELF_HOSTED_RUNNERS"


def present_runners(matrix: Matrix, environ: Mapping[str, str]) -> tuple[Matrix, list[str]]:
    """The matrix with only the runners that exist (hosted ones, and the self-hosted ones ``SELF_HOSTED_ENV``
    names), and one line per runner left out, saying why. The plan is then made without them, so what they
    would have built goes to the oci job or another runner, and nothing waits for them."""
    named = [n.strip() for n in environ.get(SELF_HOSTED_ENV, "").split(",") if n.strip()]
    known = {r.name: r for r in matrix.runners}
    unknown = [n for n in named if n not in known]
    if unknown:
        raise InputError(f"{SELF_HOSTED_ENV}={','.join(named)}: {', '.join(unknown)} is no runner of "
                         f"{matrix.file} (its runners: {', '.join(known)})")
    hosted = [n for n in named if known[n].hosted]
    if hosted:
        raise InputError(f"{SELF_HOSTED_ENV}: {', '.join(hosted)} is a hosted runner (hosted: true in "
                         f"{matrix.file}); name only self-hosted runners there")
    kept, notes = [], []
    for runner in matrix.runners:
        if runner.hosted or runner.name in named:
            kept.append(runner)
        else:
            notes.append(f"left out self-hosted runner {runner.name} (runs-on {', '.join(runner.labels)}): "
                         f"{SELF_HOSTED_ENV} does not name it, so no job waits for a runner that may not exist; "
                         f"once it is registered, set the repository variable {SELF_HOSTED_ENV} to include "
                         f"{runner.name}")
    if len(kept) == len(matrix.runners):
        return matrix, notes
    return dataclasses.replace(matrix, runners=tuple(kept)), notes


def ci_matrix(matrix: Matrix, planned: list[PlannedTarget]) -> dict:
    """The jobs of the nightly run from the plan for the CI runners (Windows targets only)."""
    plan = [p for p in planned if p.target.is_windows]
    jobs = []
    for runner in matrix.runners:
        builds = [p for p in plan if p.runner == runner.name]
        smokes = [p for p in plan if any(site.runner == runner.name for site in p.smoke)]
        if not builds and not smokes:
            continue
        jobs.append({
            "runner": runner.name,
            "runs-on": list(runner.labels),
            "build": ",".join(dict.fromkeys(p.target.base for p in builds)),
            "smoke": ",".join(dict.fromkeys(p.target.base for p in smokes)),
            "argo": ",".join(dict.fromkeys(p.target.argo.tag for p in builds + smokes)),
        })
    oci = [p for p in plan if p.build_site == ASSEMBLE]  # the nightly's assemble job
    return {
        "include": jobs,
        "oci": {"bases": ",".join(dict.fromkeys(p.target.base for p in oci)),
                "argo": ",".join(dict.fromkeys(p.target.argo.tag for p in oci))},
    }
