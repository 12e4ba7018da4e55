"""``invoke doctor``: is this host fit to be the runner a CI job would use?

Each check is a small function that returns a ``Result`` (ok, warn or fail, what was found, and what
to do). They read only what the Docker Engine API answers (``GET /info``, ``GET /images/{name}/json``),
the local file system when the engine is local, the matrix, and the environment a GitHub Actions job
sets. Nothing is pulled, built or run.

What ``/info`` can and cannot tell (moby ``api/types/system/info.go``, ``daemon/info.go``):
- ``OSType``, ``OSVersion``, ``KernelVersion``, ``OperatingSystem``: the host's OS and build
  (read by ``compat.host_facts_from_info``);
- ``Isolation``: the daemon's *default* isolation only. moby's ``setDefaultIsolation``
  (daemon/daemon_windows.go) sets it to process on Windows Server, Hyper-V on client Windows, or what
  ``exec-opts: ["isolation=..."]`` says; ``fillPlatformInfo`` adds nothing on Windows. No field says
  whether the Hyper-V feature is installed or whether a ``--isolation=hyperv`` container would start:
  that is known only by running one, which doctor does not do;
- ``DockerRootDir``: where the engine keeps images and containers (``C:\\ProgramData\\docker`` by
  default on Windows); its free space is not in the API.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import compat
from .compat import HostFacts
from .errors import InputError
from .matrix import Matrix, Runner
from .reference import is_loopback

OK, WARN, FAIL, SKIPPED = "ok", "warn", "fail", "skipped"
STATUSES = (OK, WARN, FAIL, SKIPPED)

# The free space a Windows runner's data root should have. An estimate, not a measurement (no Windows
# runner ran here): a servercore base is about 5 GB on disk (servercore:1903 shows 5.05 GB in `docker
# images`, quoted under Microsoft's post "Making Windows Server Core Containers 40% Smaller",
# techcommunity.microsoft.com/blog/containers/making-windows-server-core-containers-40-smaller/1058874),
# nanoserver about 0.25 GB. A runner holds the servercore and nanoserver of its build (the copy variant
# reads netapi32.dll from servercore), for windows-source the .NET Framework image of the same build
# (servercore plus .NET), the built images, and while a monthly base update is pulled, the old and the new
# base side by side with the compressed download beside the extracted layers. A fixed 30 GB flapped on
# hosted windows-2025 runners (about 31-33 GB free), so the space wanted is computed from the bases the
# job will pull (``needed_space``): each base twice (an update pulled beside the old one, the download
# beside its layers) plus a margin for the built images and the build cache. `--min-free-gb` overrides it.
DEFAULT_MIN_FREE_GB = 30.0  # the threshold before: the default of --min-free-gb when no base is known
BASE_GB = {"servercore": 5.05, "nanoserver": 0.25}  # on disk, extracted (above)
MARGIN_GB = 5.0  # built images (a few MB of layers each over their base), build cache, logs
GB = 1024 ** 3


@dataclass(frozen=True)
class Needed:
    """The free space a job wants, and how it was reckoned."""

    gb: float
    how: str


def needed_space(matrix: Matrix, runner: Runner | None, facts: HostFacts, offered: tuple[str, ...]) -> Needed:
    """The space the runner's job needs: the bases it will pull, each twice, plus MARGIN_GB.

    With a runner: what the plan has it build with the docker builder (the release's nanoserver, and its
    servercore, which netapi32.dll is read from) and smoke-test (the nanoserver the main container runs in).
    Without one: the nanoserver and servercore of every release this host runs."""
    from . import plan as plan_mod
    from .targets import all_targets

    bases: dict[str, str] = {}  # reference -> flavour
    if runner is not None:
        for planned in plan_mod.make_plan(matrix, all_targets(matrix)):
            if not planned.target.is_windows:
                continue
            release = planned.target.windows
            if planned.runner == runner.name and planned.build_site != plan_mod.ASSEMBLE:
                for flavour in ("nanoserver", "servercore"):
                    bases[matrix.base_image(release, flavour)] = flavour
            if any(site.runner == runner.name for site in planned.smoke):
                bases[matrix.base_image(release, "nanoserver")] = "nanoserver"
    else:
        for release in runnable_releases(matrix, facts, offered):
            for flavour in ("nanoserver", "servercore"):
                bases[matrix.base_image(release, flavour)] = flavour
    pulled = sum(BASE_GB[flavour] for flavour in bases.values())
    counts = {flavour: list(bases.values()).count(flavour) for flavour in BASE_GB if flavour in bases.values()}
    which = " + ".join(f"{n} {flavour} ({BASE_GB[flavour]:g} GB)" for flavour, n in counts.items()) or "no base"
    return Needed(round(2 * pulled + MARGIN_GB, 1),
                  f"{which}, each twice (an update beside the old), + {MARGIN_GB:g} GB margin")


@dataclass(frozen=True)
class Result:
    """One check's answer: its name, ok/warn/fail, what was found, what to do (if anything), and the
    matrix key it is about (runner checks)."""

    check: str
    status: str
    message: str
    fix: str | None = None
    key: str | None = None

    def line(self) -> str:
        text = f"{self.status:<7}  {self.check}: {self.message}"
        return text + (f" -> {self.fix}" if self.fix else "")

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message, "fix": self.fix,
                "key": self.key}


# ---------------------------------------------------------------------------------------------
# Input


def min_free_gb(value: str | float | None) -> float | None:
    """``--min-free-gb``: a number of GB, 0 or more; None when not given (computed from the bases)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= 1_000_000 or number != number:
        raise InputError(f"--min-free-gb {value}: expected a number of GB, 0 or more (default "
                         f"{DEFAULT_MIN_FREE_GB:g})")
    return number


def named_runner(matrix: Matrix, name: str | None) -> tuple[int, Runner] | None:
    """``--runner NAME`` as (its index in the matrix, the runner); an unknown name is exit 2, naming the known."""
    if name is None:
        return None
    for index, runner in enumerate(matrix.runners):
        if runner.name == name:
            return index, runner
    raise InputError(f"--runner {name}: no such runner in {matrix.file}; known: "
                     f"{', '.join(r.name for r in matrix.runners)}")


# ---------------------------------------------------------------------------------------------
# The checks


def check_engine(description: str) -> Result:
    """The engine answered ``/info`` (one that does not is exit 4 before any check: engine.connect)."""
    return Result("engine", OK, f"reachable: {description}")


def check_os(facts: HostFacts) -> Result:
    """The engine's OS and build, from the facts compat read from /info."""
    named = f" ({facts.operating_system})" if facts.operating_system else ""
    if not facts.is_windows:
        return Result("os", FAIL, f"a {facts.os_type} engine{named}, not a Windows host: the docker builder cannot "
                                  "build or run Windows images on it, and the Windows checks below do not apply",
                      "build Windows images without an engine: `invoke build --builder oci --to REGISTRY/REPO`; "
                      "or point --engine (DOCKER_HOST) at the Windows runner's engine")
    if facts.build is None:
        return Result("os", FAIL, f"a Windows engine{named} that did not report its OS build in /info (OSVersion, "
                                  "KernelVersion and OperatingSystem hold none)",
                      "upgrade the engine (moby 20.10 and newer send OSVersion)")
    return Result("os", OK, f"Windows {facts.build}{named}, engine {facts.engine_version or '?'}")


def known_isolation(facts: HostFacts) -> tuple[str, ...]:
    """The isolation modes /info shows to be offered: the default one, and only that (see the module doc)."""
    return (facts.default_isolation,) if facts.default_isolation in compat.ISOLATIONS else ()


def check_isolation(facts: HostFacts) -> Result:
    default = facts.default_isolation or "none reported"
    if facts.default_isolation not in compat.ISOLATIONS:
        return Result("isolation", WARN, f"/info reports the default isolation {default!r}, which is neither "
                                         "process nor hyperv", "check the engine's exec-opts in daemon.json")
    other = compat.HYPERV if facts.default_isolation == compat.PROCESS else compat.PROCESS
    return Result("isolation", OK, f"default {facts.default_isolation} (/info Isolation); whether {other} isolation "
                                   "also works cannot be read from the Engine API: /info reports only the default")


def check_disk(url: str, info: Mapping[str, Any], minimum_gb: float, how: str | None = None) -> Result:
    """Free space where the engine keeps images (DockerRootDir), measured when the engine is local.
    ``how``: how ``minimum_gb`` was reckoned (needed_space), printed with it."""
    result = _check_disk(url, info, minimum_gb)
    if how:
        return Result(result.check, result.status, f"{result.message}; {minimum_gb:g} GB needed: {how}",
                      result.fix, result.key)
    return result


def _check_disk(url: str, info: Mapping[str, Any], minimum_gb: float) -> Result:
    root = info.get("DockerRootDir")
    if not isinstance(root, str) or not root:
        return Result("disk", WARN, "/info names no DockerRootDir: free space cannot be measured",
                      f"check that the engine's data-root has {minimum_gb:g} GB free")
    if not engine_is_local(url):
        return Result("disk", WARN, f"the engine is remote: free space at its DockerRootDir {root} cannot be "
                                    "measured from here",
                      f"run `invoke doctor` on the runner itself, or check that {root} has {minimum_gb:g} GB free")
    if not os.path.isabs(root) or not os.path.isdir(root):
        return Result("disk", WARN, f"DockerRootDir {root} is not a folder on this machine (the engine runs "
                                    "elsewhere: another OS or a VM): free space cannot be measured from here",
                      f"check on the engine's host that {root} has {minimum_gb:g} GB free")
    try:
        free = shutil.disk_usage(root).free
    except OSError as exc:
        return Result("disk", WARN, f"cannot measure free space at {root} ({exc.strerror or exc})",
                      f"check that {root} has {minimum_gb:g} GB free")
    found = f"{free / GB:.1f} GB free at DockerRootDir {root}"
    if free < minimum_gb * GB:
        return Result("disk", FAIL, f"{found}, below {minimum_gb:g} GB (Windows base layers are GBs each)",
                      "free space (`docker image prune`, `docker builder prune`) or move the engine's data-root "
                      "(daemon.json) to a larger disk")
    return Result("disk", OK, f"{found} (at least {minimum_gb:g} GB wanted)")


def runnable_releases(matrix: Matrix, facts: HostFacts, offered: tuple[str, ...]):
    """The Windows releases of the matrix whose images this host runs with an isolation it offers."""
    if not facts.is_windows or facts.build is None:
        return []
    return [r for r in matrix.releases
            if compat.choose_isolation(facts.build, r.build, offered, matrix.stable_abi).ok]


def check_bases(matrix: Matrix, facts: HostFacts, offered: tuple[str, ...], present) -> Result:
    """Which base references of the matrix (nanoserver and servercore, mirrors applied) are on the engine,
    for the releases this host runs. ``present(reference)`` says whether the engine has one."""
    releases = runnable_releases(matrix, facts, offered)
    if not releases:
        return Result("bases", WARN, f"no Windows release of the matrix runs on a {facts.build} host with "
                                     f"{' or '.join(offered) or 'no known'} isolation: this host can build none",
                      "use a host of a build the matrix lists, or add the release to matrix.yaml")
    references = [matrix.base_image(r, flavour) for r in releases for flavour in ("nanoserver", "servercore")]
    here = [ref for ref in references if present(ref)]
    missing = [ref for ref in references if ref not in here]
    names = ", ".join(r.name for r in releases)
    message = f"for {names}: present {', '.join(here) or 'none'}"
    if missing:
        message += f"; not present (a build pulls them, servercore is GBs): {', '.join(missing)}"
    return Result("bases", OK, message)


def check_revisions(matrix: Matrix, facts: HostFacts, offered: tuple[str, ...]) -> Result | None:
    """The host's revision against the lock's os.version of each base of its own build that it runs with process
    isolation (node_notes.revision_skew); None when nothing can be compared (no lock, or no revision)."""
    from . import node_notes

    if facts.build is None or facts.build.revision is None or compat.PROCESS not in offered:
        return None
    warnings = []
    for release in runnable_releases(matrix, facts, offered):
        for flavour in ("nanoserver", "servercore"):
            locked = matrix.locked_base(release, flavour)
            skew = node_notes.revision_skew(locked.os_version if locked else None, facts.build)
            if skew:
                warnings.append(f"{matrix.base_key(release, flavour)}: {skew}")
    if warnings:
        return Result("revision", WARN, "; ".join(warnings),
                      "install the host's latest cumulative update, or build and smoke with Hyper-V isolation")
    return None


def default_runner(matrix: Matrix, facts: HostFacts) -> tuple[tuple[int, Runner] | None, Result | None]:
    """The runner whose host_build is the engine's build, if exactly one; else a warning saying why none."""
    if not facts.is_windows or facts.build is None:
        return None, None
    matches = [(i, r) for i, r in enumerate(matrix.runners) if r.host_build.base == facts.build.base]
    if len(matches) == 1:
        return matches[0], None
    if not matches:
        return None, Result("runner", WARN, f"no runner of the matrix has host_build {facts.build.base}",
                            "pass --runner NAME to compare a runner entry with this host")
    return None, Result("runner", WARN, f"runners {', '.join(r.name for _, r in matches)} all have host_build "
                                        f"{facts.build.base}", "pass --runner NAME to pick one")


def check_runner_build(index: int, runner: Runner, facts: HostFacts) -> Result:
    key = f"runners[{index}].host_build"
    if facts.is_windows and facts.build is not None and facts.build.base == runner.host_build.base:
        return Result("runner.host_build", OK, f"{key} {runner.host_build.base} ({runner.name}) is the engine's "
                                               "build", key=key)
    reported = facts.build.base if facts.is_windows and facts.build else f"a {facts.os_type} host"
    return Result("runner.host_build", FAIL, f"{key}: matrix says {runner.host_build.base}, engine reports {reported}",
                  f"run {runner.name}'s jobs on a {runner.host_build.base} host, or correct {key} in matrix.yaml",
                  key)


def check_runner_isolation(index: int, runner: Runner, facts: HostFacts) -> Result:
    key = f"runners[{index}].isolation"
    if not facts.is_windows:
        return Result("runner.isolation", FAIL, f"{key}: matrix says {', '.join(runner.isolation)}, a "
                                                f"{facts.os_type} engine offers no Windows isolation",
                      f"run {runner.name}'s jobs on a Windows host", key)
    known = known_isolation(facts)
    if runner.hosted and facts.default_isolation == compat.HYPERV:
        # actions/runner-images#183: hosted runners have no nested virtualization.
        return Result("runner.isolation", FAIL, f"{key}: {runner.name} is hosted (no nested virtualization), but "
                                                "the engine's default isolation is hyperv: its containers cannot "
                                                "start", "remove isolation=hyperv from the engine's exec-opts", key)
    unknown = [mode for mode in runner.isolation if mode not in known]
    if not unknown:
        return Result("runner.isolation", OK, f"{key} {', '.join(runner.isolation)}: the engine's default",
                      key=key)
    how = ("`Get-WindowsFeature Hyper-V` shows Installed, and `docker run --rm --isolation=hyperv` of the "
           "nanoserver of an older build starts" if compat.HYPERV in unknown else
           "`docker run --rm --isolation=process` of the nanoserver of this build starts")
    return Result("runner.isolation", WARN, f"{key} lists {', '.join(unknown)}; /info shows only the default "
                                            f"({facts.default_isolation}), so that cannot be confirmed from the API",
                  f"confirm on the host: {how}", key)


SELF_HOSTED = "self-hosted"


def check_runner_labels(index: int, runner: Runner, env: Mapping[str, str]) -> Result:
    """Labels sanity, and (inside a GitHub Actions job) whether this host is the kind the entry says.

    Every self-hosted runner carries the labels ``self-hosted``, its OS and its architecture; a job's
    ``runs-on`` lists labels, so a self-hosted entry without ``self-hosted`` could be matched by other
    machines. ``RUNNER_ENVIRONMENT`` (``github-hosted`` or ``self-hosted``) is set in every job.
    """
    key = f"runners[{index}].labels"
    labels = {label.lower() for label in runner.labels}
    if not runner.hosted and SELF_HOSTED not in labels:
        return Result("runner.labels", FAIL, f"{key}: {runner.name} is self-hosted but its labels lack self-hosted",
                      f"add self-hosted to {key}", key)
    if runner.hosted and SELF_HOSTED in labels:
        return Result("runner.labels", FAIL, f"{key}: {runner.name} is hosted: true but lists self-hosted",
                      f"drop self-hosted from {key}, or set runners[{index}].hosted: false", key)
    if not runner.hosted and "windows" not in labels:
        return Result("runner.labels", WARN, f"{key}: {runner.name} lacks the windows label every Windows "
                                             "self-hosted runner carries", f"add windows to {key}", key)
    where = (env.get("RUNNER_ENVIRONMENT") or "").strip()
    said = "hosted" if runner.hosted else SELF_HOSTED
    if where in ("github-hosted", SELF_HOSTED):
        if (where == "github-hosted") != runner.hosted:
            hosted_key = f"runners[{index}].hosted"
            return Result("runner.labels", FAIL, f"{hosted_key}: matrix says {runner.name} is {said}, this job "
                                                 f"runs on a {where} runner (RUNNER_ENVIRONMENT)",
                          f"correct {hosted_key} in matrix.yaml, or run on the runner it names", hosted_key)
        return Result("runner.labels", OK, f"{key} {', '.join(runner.labels)}; this job runs on a {where} runner, "
                                           "as the matrix says", key=key)
    return Result("runner.labels", OK, f"{key} {', '.join(runner.labels)} ({said}); not inside a GitHub Actions "
                                       "job, so the labels the runner registered cannot be read from here: compare "
                                       "them with the repository's Settings > Actions > Runners", key=key)


# ---------------------------------------------------------------------------------------------
# All of them


def engine_is_local(url: str) -> bool:
    """Whether the engine runs on this machine: a unix socket, a named pipe, the default, or a loopback address."""
    if url == "default" or url.startswith(("unix://", "npipe://")):
        return True
    if not url.startswith(("tcp://", "http://", "https://")):
        return False  # ssh:// and anything else: another machine
    split = urllib.parse.urlsplit(url.replace("tcp://", "http://", 1))
    return is_loopback(split.netloc.rsplit("@", 1)[-1])


def image_present(engine, reference: str) -> bool:
    """Whether the engine holds ``reference`` (GET /images/{name}/json)."""
    import docker.errors

    try:
        engine.api.inspect_image(reference)
    except docker.errors.NotFound:
        return False
    return True


def run_checks(engine, matrix: Matrix, selected: tuple[int, Runner] | None, minimum_gb: float | None,
               env: Mapping[str, str]) -> list[Result]:
    """Every check against a connected engine (builder.engine.Engine), in the order they print.
    ``minimum_gb`` None: the space needed is computed from the bases the job pulls (needed_space)."""
    facts = engine.facts
    results = [check_engine(engine.describe()), check_os(facts)]
    windows = facts.is_windows and facts.build is not None
    if windows:
        results.append(check_isolation(facts))
    note = None
    if selected is None:
        selected, note = default_runner(matrix, facts)
    if minimum_gb is None:
        offered = selected[1].isolation if selected else known_isolation(facts)
        needed = needed_space(matrix, selected[1] if selected else None, facts, offered)
        results.append(check_disk(engine.url, engine.info, needed.gb, needed.how))
    else:
        results.append(check_disk(engine.url, engine.info, minimum_gb))
    if windows:
        offered = selected[1].isolation if selected else known_isolation(facts)
        results.append(check_bases(matrix, facts, offered, lambda ref: image_present(engine, ref)))
        revisions = check_revisions(matrix, facts, offered)
        if revisions is not None:
            results.append(revisions)
    if note is not None:
        results.append(note)
    if selected is not None:
        index, runner = selected
        results += [check_runner_build(index, runner, facts), check_runner_isolation(index, runner, facts),
                    check_runner_labels(index, runner, env)]
    return results


def without_engine(matrix: Matrix, selected: tuple[int, Runner] | None, reason: str,
                   env: Mapping[str, str]) -> list[Result]:
    """Every check when the engine cannot be reached: the engine's fails with why, those that need its answers are
    skipped (named, with why), and those that need none (the runner entry's labels) still run."""
    no_answer = "needs the engine's answer"
    found = re.search(r"(?:at )?(\S+) \((.*?)\)", reason)
    results = [Result("engine", FAIL, f"not reachable at {found.group(1)} ({found.group(2)})" if found else reason,
                      "start the engine, or pass --engine URL (DOCKER_HOST) naming one that answers")]
    results += [Result(name, SKIPPED, no_answer) for name in ("os", "isolation", "disk", "bases")]
    if selected is None:
        results.append(Result("runner", SKIPPED, "no --runner given, and the engine's build (which picks one) is "
                                                 "unknown", "pass --runner NAME"))
    else:
        index, runner = selected
        results += [Result("runner.host_build", SKIPPED, no_answer, key=f"runners[{index}].host_build"),
                    Result("runner.isolation", SKIPPED, no_answer, key=f"runners[{index}].isolation"),
                    check_runner_labels(index, runner, env)]
    return results


def failed(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status == FAIL]


def print_results(results: list[Result], as_json: bool) -> None:
    """What `invoke doctor` prints: one line per check, or the JSON list."""
    from . import report

    if as_json:
        print(report.dumps([r.to_json() for r in results]))
    else:
        for result in results:
            print(result.line())
