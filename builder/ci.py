"""The nightly CI matrix, generated from matrix.yaml through the plan (docker-library's habit).

Each runner builds (docker) what its host can build natively and smoke-tests what its host can
run; the bases no runner can build are assembled daemonlessly (oci) on a Linux job, so every
Windows target is routed somewhere: none is silently skipped. The planner decides all of it
(``PlannedTarget.runner``, ``build_site``, ``smoke``); this module only lays the plan out as jobs.
"""

from __future__ import annotations

from .matrix import Matrix
from .plan import ASSEMBLE, PlannedTarget


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
