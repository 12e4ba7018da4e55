"""Plan: for each target, its base image, how it builds and where it is smoke-tested.

Routing asks ``compat`` only. A target builds on a given host (``--host-build``) or, in CI,
on the best runner of the matrix: one whose engine builds it with process isolation, else
with Hyper-V isolation; a release may pin its runner with ``build_runner``. Smoke tests run on
every runner that can run the image, with the isolation it would use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import compat
from .compat import WindowsBuild
from .matrix import Matrix, Runner
from .targets import Target

LOCAL = "local"
LINUX = "linux"
BUILD_DOCKER = "docker"  # a Linux target on a Linux engine


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
    build: str  # compat.BUILD_PROCESS, BUILD_HYPERV or BUILD_NONE
    isolation: str | None
    runner: str | None
    host_build: WindowsBuild | None
    smoke: tuple[SmokeSite, ...]
    reason: str | None

    @property
    def builder(self) -> str:
        """What ``--builder auto`` uses: docker where an engine can build it natively, else oci (daemonless)."""
        return "oci" if self.build == compat.BUILD_NONE else "docker"

    @property
    def os_version(self) -> str | None:
        return self.target.release.build.base if self.target.is_windows else None

    def to_json(self) -> dict[str, Any]:
        target = self.target
        return {
            "id": target.id,
            "argo": target.argo.tag,
            "os": target.os,
            "base": target.base,
            "os_version": self.os_version,
            "base_image": self.base_image,
            "build": self.build,
            "builder": self.builder,
            "isolation": self.isolation,
            "runner": self.runner,
            "host_build": self.host_build.base if self.host_build else None,
            "smoke": [site.to_json() for site in self.smoke],
            "reason": self.reason,
        }


def _best_runner(runners: Iterable[Runner], image: WindowsBuild) -> tuple[Runner | None, str, str | None, str]:
    """The runner to build on: process isolation beats Hyper-V; the matrix order breaks ties."""
    refusals = []
    hyperv_choice = None
    for runner in runners:
        method, isolation, reason = compat.choose_build(runner.host_build, image, runner.isolation)
        if method == compat.BUILD_PROCESS:
            return runner, method, isolation, reason
        if method == compat.BUILD_HYPERV and hyperv_choice is None:
            hyperv_choice = (runner, method, isolation, reason)
        if method == compat.BUILD_NONE:
            refusals.append(f"{runner.name}: {reason}")
    if hyperv_choice:
        return hyperv_choice
    return None, compat.BUILD_NONE, None, "no runner can build it: " + "; ".join(refusals)


def plan_target(matrix: Matrix, target: Target, host_build: WindowsBuild | None = None,
                host_isolation: Iterable[str] = compat.ISOLATIONS) -> PlannedTarget:
    if not target.is_windows:
        # Linux flavours build on any Linux engine, with no isolation choice to make.
        return PlannedTarget(target, matrix.mirrored(target.release.base_image), BUILD_DOCKER, None, None, None,
                             (SmokeSite(LINUX, None, None),), None)
    image = target.release.build
    base_image = matrix.base_image(target.release)
    if host_build is not None:
        offered = tuple(host_isolation)
        method, isolation, reason = compat.choose_build(host_build, image, offered)
        placement = compat.choose_isolation(host_build, image, offered)
        smoke = (SmokeSite(LOCAL, placement.isolation, host_build),) if placement.ok else ()
        return PlannedTarget(target, base_image, method, isolation, LOCAL if method != compat.BUILD_NONE else None,
                             host_build, smoke, None if method != compat.BUILD_NONE else reason)

    if target.release.build_runner:
        runner = matrix.runner(target.release.build_runner)
        method, isolation, reason = compat.choose_build(runner.host_build, image, runner.isolation)
    else:
        runner, method, isolation, reason = _best_runner(matrix.runners, image)
    smoke = []
    for candidate in matrix.runners:
        placement = compat.choose_isolation(candidate.host_build, image, candidate.isolation)
        if placement.ok:
            smoke.append(SmokeSite(candidate.name, placement.isolation, candidate.host_build))
    problems = []
    if method == compat.BUILD_NONE:
        problems.append(reason)
    if not smoke:
        problems.append(f"no runner can smoke-test it (it needs a {image.base} host, or a newer one with Hyper-V)")
    return PlannedTarget(
        target, base_image, method, isolation,
        runner.name if runner is not None and method != compat.BUILD_NONE else None,
        runner.host_build if runner is not None and method != compat.BUILD_NONE else None,
        tuple(smoke), "; ".join(problems) or None,
    )


def make_plan(matrix: Matrix, targets: Iterable[Target], host_build: WindowsBuild | None = None,
              host_isolation: Iterable[str] = compat.ISOLATIONS) -> list[PlannedTarget]:
    return [plan_target(matrix, t, host_build, host_isolation) for t in targets]
