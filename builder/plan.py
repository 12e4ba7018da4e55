"""Plan: for each target, its base image, which builder serves it, how and where it builds, and
where it is smoke-tested. This is the only module that decides any of it; every later step
(render, build, smoke, records, the CI matrix) is handed the plan and never plans again.

Routing asks ``compat`` only, with the stable-ABI releases of the matrix. A plan is made for one
of three places:
- the CI runners of the matrix (``make_plan`` with no host): a target builds on the best runner,
  one whose engine builds it with process isolation, else with Hyper-V isolation (a release may
  pin its runner with ``build_runner``); it is smoke-tested on every runner that can run it;
- a Windows host of a given build (``make_plan`` with ``host_build``, ``invoke plan --host-build``);
- a connected Docker engine (``plan_build`` and ``plan_smoke``), from the facts its ``/info`` gave.
Bases that no engine of the plan can build go to the daemonless ``oci`` builder. On the CI runners'
plan that is the nightly's Linux ``assemble`` job (``.github/workflows/nightly.yml``, fed by
``ci.ci_matrix``'s ``oci`` entry); on a plan for one host it needs no engine at all. Either way the
plan says where such an image can be smoke-tested: on every runner whose isolation the rules allow
(a Hyper-V runner runs the older builds), or that none can, with the rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import compat
from .compat import HostFacts, WindowsBuild
from .errors import InputError
from .matrix import LinuxBase, Matrix, Runner
from .targets import Target

LOCAL = "local"
LINUX = "linux"
BUILD_LINUX = "docker"  # a Linux target on a Linux engine
DEFAULT_ISOLATION = "default"  # a Linux container: the engine's own, nothing to choose

# Which builder serves a target (``--builder``): the Docker engine, or daemonless assembly.
BUILDER_AUTO, BUILDER_DOCKER, BUILDER_OCI = "auto", "docker", "oci"
BUILDERS = (BUILDER_AUTO, BUILDER_DOCKER, BUILDER_OCI)

# Where a target builds (``PlannedTarget.build_site``) when it is no runner of the matrix: the nightly's Linux job
# that runs the oci builder for the bases no runner builds, any machine (an oci build on a plan for one host: no
# engine needed), this host or engine, any Linux engine.
ASSEMBLE = "assemble"
ANYWHERE = "anywhere"
SITES = {
    ASSEMBLE: "the nightly's Linux assemble job",
    ANYWHERE: "no engine needed",
    LOCAL: "this host",
    LINUX: "any Linux engine",
}


@dataclass(frozen=True)
class SmokeSite:
    runner: str
    isolation: str | None
    host_build: WindowsBuild | None

    def to_json(self) -> dict[str, Any]:
        return {"runner": self.runner, "isolation": self.isolation,
                "host_build": self.host_build.base if self.host_build else None}


@dataclass(frozen=True)
class PlannedTarget:
    target: Target
    base_image: str
    build: str  # compat.BUILD_PROCESS, BUILD_HYPERV, BUILD_NONE, or BUILD_LINUX (Linux)
    isolation: str | None
    runner: str | None
    host_build: WindowsBuild | None
    smoke: tuple[SmokeSite, ...]
    reason: str | None
    builder: str = BUILDER_DOCKER  # BUILDER_DOCKER or BUILDER_OCI: the builder that serves this target
    not_runnable: str | None = None  # why no smoke site can run it (the rule that forbids it)
    base_tag: str | None = None  # the base by tag, for labels and display, when base_image is pinned by digest
    # Who builds it: a runner's name, ASSEMBLE, ANYWHERE, LOCAL or LINUX (None: nobody, on an engine that cannot).
    build_site: str | None = None

    @property
    def os_version(self) -> str | None:
        return self.target.windows.build.base if self.target.is_windows else None

    @property
    def built_by(self) -> str:
        """The build it gets: ``oci`` when the daemonless builder serves it, else the engine's method (``build``)."""
        return BUILDER_OCI if self.builder == BUILDER_OCI else self.build

    @property
    def smoke_here(self) -> SmokeSite | None:
        """On a plan for one host or engine: where (and with which isolation) it runs there, if it can."""
        return next((site for site in self.smoke if site.runner == LOCAL), None)

    def to_json(self) -> dict[str, Any]:
        target = self.target
        return {
            "id": target.id,
            "argo": target.argo.tag,
            "os": target.os,
            "base": target.base,
            "os_version": self.os_version,
            "base_image": self.base_image,
            "base_tag": self.base_tag or self.base_image,
            "build": self.build,
            "builder": self.builder,
            "isolation": self.isolation,
            "runner": self.runner,
            "host_build": self.host_build.base if self.host_build else None,
            "smoke": [site.to_json() for site in self.smoke],
            "reason": self.reason,
            # Added fields (the ones above keep their meaning: ``build`` is what a Docker engine does, ``none`` for
            # a base the oci builder assembles): the build it gets, who builds it, why nothing can smoke-test it.
            "built_by": self.built_by,
            "build_site": self.build_site,
            "build_site_label": SITES.get(self.build_site, self.build_site) if self.build_site else None,
            "not_runnable": self.not_runnable,
        }


def _default_builder(build: str) -> str:
    """What ``--builder auto`` does with a plan: docker where an engine can build it natively, else oci."""
    return BUILDER_OCI if build == compat.BUILD_NONE else BUILDER_DOCKER


def _best_runner(matrix: Matrix, image: WindowsBuild) -> tuple[Runner | None, str, str | None, str]:
    """The runner to build on: process isolation beats Hyper-V; the matrix order breaks ties."""
    refusals = []
    hyperv_choice = None
    for runner in matrix.runners:
        method, isolation, reason = compat.choose_build(runner.host_build, image, runner.isolation, matrix.stable_abi)
        if method == compat.BUILD_PROCESS:
            return runner, method, isolation, reason
        if method == compat.BUILD_HYPERV and hyperv_choice is None:
            hyperv_choice = (runner, method, isolation, reason)
        if method == compat.BUILD_NONE:
            refusals.append(f"{runner.name}: {reason}")
    if hyperv_choice:
        return hyperv_choice
    return None, compat.BUILD_NONE, None, "no runner's Docker engine can build it: " + "; ".join(refusals)


def plan_target(matrix: Matrix, target: Target, host_build: WindowsBuild | None = None,
                host_isolation: Iterable[str] = compat.ISOLATIONS) -> PlannedTarget:
    """One target, planned for the CI runners or (``host_build``) for one Windows host."""
    if isinstance(target.release, LinuxBase):
        # Linux flavours build on any Linux engine, with no isolation choice to make.
        return PlannedTarget(target, matrix.mirrored(target.release.base_image), BUILD_LINUX, None, None, None,
                             (SmokeSite(LINUX, None, None),), None, build_site=LINUX)
    release = target.windows
    image = release.build
    base_image = matrix.base_image(release)
    if host_build is not None:
        offered = tuple(host_isolation)
        method, isolation, reason = compat.choose_build(host_build, image, offered, matrix.stable_abi)
        placement = compat.choose_isolation(host_build, image, offered, matrix.stable_abi)
        smoke = (SmokeSite(LOCAL, placement.isolation, host_build),) if placement.ok else ()
        return PlannedTarget(target, base_image, method, isolation, LOCAL if method != compat.BUILD_NONE else None,
                             host_build, smoke, None if method != compat.BUILD_NONE else reason,
                             _default_builder(method), None if placement.ok else placement.reason,
                             matrix.base_tag(release), LOCAL if method != compat.BUILD_NONE else ANYWHERE)

    runner: Runner | None
    if release.build_runner:
        runner = matrix.runner(release.build_runner)
        assert runner is not None  # load_matrix refuses a build_runner the matrix does not declare
        method, isolation, reason = compat.choose_build(runner.host_build, image, runner.isolation, matrix.stable_abi)
    else:
        runner, method, isolation, reason = _best_runner(matrix, image)
    sites: list[SmokeSite] = []
    for candidate in matrix.runners:
        placement = compat.choose_isolation(candidate.host_build, image, candidate.isolation, matrix.stable_abi)
        if placement.ok:
            sites.append(SmokeSite(candidate.name, placement.isolation, candidate.host_build))
    problems = []
    if method == compat.BUILD_NONE:
        problems.append(reason)
    not_runnable = None
    if not sites:
        not_runnable = _no_smoke_site(matrix, image)
        problems.append(not_runnable)
    builder = runner if runner is not None and method != compat.BUILD_NONE else None  # the runner that builds it
    return PlannedTarget(
        target, base_image, method, isolation,
        builder.name if builder else None, builder.host_build if builder else None,
        tuple(sites), "; ".join(problems) or None, _default_builder(method), not_runnable,
        matrix.base_tag(release), builder.name if builder else ASSEMBLE,
    )


def _no_smoke_site(matrix: Matrix, image: WindowsBuild) -> str:
    """Why no runner of the matrix can run an image: the rule, and what the runners that offer Hyper-V say."""
    rule = f"no runner can smoke-test it (it needs a {image.base} host, or a newer one with Hyper-V)"
    hyperv = [r for r in matrix.runners if compat.HYPERV in r.isolation]
    if not hyperv:
        return f"{rule}: no runner of the matrix offers Hyper-V isolation"
    return f"{rule}: " + "; ".join(
        f"{r.name}: {compat.choose_isolation(r.host_build, image, r.isolation, matrix.stable_abi).reason}"
        for r in hyperv)


def make_plan(matrix: Matrix, targets: Iterable[Target], host_build: WindowsBuild | None = None,
              host_isolation: Iterable[str] = compat.ISOLATIONS) -> list[PlannedTarget]:
    return [plan_target(matrix, t, host_build, host_isolation) for t in targets]


# ---------------------------------------------------------------------------------------------
# Plans for a connected Docker engine (or none)


def _on_engine(matrix: Matrix, target: Target, facts: HostFacts, offered: tuple[str, ...],
               where: str) -> PlannedTarget:
    """How this engine's host builds and runs the target; BUILD_NONE with the reason when it cannot."""
    if target.is_windows:
        if facts.is_windows and facts.build is not None:
            return plan_target(matrix, target, facts.build, offered)
        planned = plan_target(matrix, target)
        if facts.is_windows:
            reason = f"the Windows engine at {where} did not report its OS build in /info"
            cannot_run = f"a {facts.os_type} engine cannot run Windows images"
        else:
            reason = (f"the engine at {where} is a {facts.os_type} engine and cannot build Windows images; point "
                      f"--engine (or DOCKER_HOST) at a Windows host that runs {target.windows.build.base} images")
            cannot_run = f"a {facts.os_type} engine cannot run Windows images"
        return dataclasses.replace(planned, build=compat.BUILD_NONE, isolation=None, runner=None, host_build=None,
                                   smoke=(), reason=reason, builder=BUILDER_OCI, not_runnable=cannot_run,
                                   build_site=ANYWHERE)
    planned = plan_target(matrix, target)
    if facts.is_windows:
        return dataclasses.replace(planned, build=compat.BUILD_NONE, runner=None, smoke=(),
                                   reason=f"the engine at {where} is a Windows engine; Linux targets need a Linux "
                                          "engine", not_runnable="a Windows engine does not run Linux images",
                                   build_site=None)
    return dataclasses.replace(planned, runner=LOCAL, smoke=(SmokeSite(LOCAL, DEFAULT_ISOLATION, None),),
                               build_site=LOCAL)


def plan_smoke(matrix: Matrix, targets: Iterable[Target], facts: HostFacts,
               offered: Iterable[str] = compat.ISOLATIONS, where: str = "the engine") -> list[PlannedTarget]:
    """Where each target can be smoke-tested on this engine (``smoke_here``), or the rule that forbids it."""
    return [_on_engine(matrix, target, facts, tuple(offered), where) for target in targets]


def plan_build(matrix: Matrix, targets: Iterable[Target], facts: HostFacts | None, builder: str = BUILDER_AUTO,
               offered: Iterable[str] = compat.ISOLATIONS, where: str = "the engine") -> list[PlannedTarget]:
    """Plan a build run: which builder serves each target and how. ``facts`` is None without an engine.

    ``builder`` is one of ``BUILDERS`` (``--builder`` is checked once, by ``options.builder_choice``).
    ``docker`` refuses (exit 2, before anything is built) a target the engine cannot build; ``oci``
    takes Windows targets only; ``auto`` uses the engine where its host builds the base natively
    (a Linux engine for Linux targets) and the daemonless oci builder for the other Windows bases.
    """
    offered = tuple(offered)
    targets = list(targets)
    if builder == BUILDER_OCI:
        linux = [t.id for t in targets if not t.is_windows]
        if linux:
            raise InputError(f"{', '.join(linux)}: the oci builder assembles Windows images; build Linux targets "
                             "with --builder docker")
        return [dataclasses.replace(plan_target(matrix, t), builder=BUILDER_OCI, build_site=LOCAL) for t in targets]
    plans = []
    for target in targets:
        if facts is None:
            if builder == BUILDER_DOCKER:
                raise InputError(f"{target.id}: --builder docker needs a Docker engine; pass --engine URL")
            if not target.is_windows:
                raise InputError(f"{target.id}: a Linux target needs a Linux Docker engine; none is reachable "
                                 "(pass --engine URL)")
            plans.append(dataclasses.replace(plan_target(matrix, target), builder=BUILDER_OCI, build_site=LOCAL))
            continue
        planned = _on_engine(matrix, target, facts, offered, where)
        if planned.build != compat.BUILD_NONE:
            plans.append(dataclasses.replace(planned, builder=BUILDER_DOCKER))
        elif builder == BUILDER_AUTO and target.is_windows:
            plans.append(dataclasses.replace(plan_target(matrix, target), builder=BUILDER_OCI, build_site=LOCAL))
        elif not target.is_windows and builder == BUILDER_AUTO:
            raise InputError(f"{target.id}: a Linux target needs a Linux Docker engine; none is reachable "
                             "(pass --engine URL)")
        elif target.is_windows and facts.is_windows and facts.build is not None:
            raise InputError(f"{target.id}: cannot build on this {facts.build.base} host: {planned.reason}; build it "
                             f"on a {target.windows.build.base} host (process isolation) or a newer host with Hyper-V")
        else:
            raise InputError(f"{target.id}: {planned.reason}")
    return plans
