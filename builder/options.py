"""Run options: the flags of a task read once, checked in one place, and handed on frozen.

Each task's flags become a value here before anything is touched (no engine, no network, no file
written): bad input is an ``InputError`` naming the flag. The pipeline and the steps read these
values and never change them; what a step makes (the binaries of a build) is a new value
(``dataclasses.replace``), not an edit of the options it was given.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import compat, plan, targets
from . import matrix as matrix_mod
from .builders import DEFAULT_LAYOUT, BuildOptions
from .compat import WindowsBuild
from .errors import InputError
from .matrix import REPO_RE, Matrix
from .reference import Reference, is_registry_host
from .secrets import has_userinfo, hide_userinfo
from .source import ARGO_GIT

if TYPE_CHECKING:  # smoke imports the Docker SDK: not loaded for the tasks that need no engine
    from .smoke import SmokeOptions

Flag = Iterable[str] | str | None


@dataclass(frozen=True)
class Selection:
    """The selection flags every task shares."""

    matrix: str | None = None
    base: Flag = None
    argo: Flag = None
    only: Flag = None
    skip: Flag = None

    def resolve(self, default_bases: str | None = targets.ALL) -> tuple[Matrix, list[targets.Target]]:
        loaded = matrix_mod.load_matrix(self.matrix)
        return loaded, targets.select(loaded, self.base, self.argo, self.only, self.skip, default_bases)

    @property
    def narrowed(self) -> bool:
        return bool(self.base or self.argo or self.only or self.skip)


@dataclass(frozen=True)
class EngineFlags:
    """The flags of the tasks that use a Docker engine."""

    engine: str | None = None
    repo: str | None = None
    results: str | None = None
    runner: str | None = None
    network: str | None = None
    host_isolation: Flag = None


@dataclass(frozen=True)
class ClusterFlags:
    """The flags of `invoke smoke --cluster`."""

    url: str
    token_env: str | None = None
    insecure: bool = False
    namespace: str = "argo"
    hybrid: bool = False
    name: str | None = None  # the runner name of its records (default: the server's host)


# ---------------------------------------------------------------------------------------------
# Reading one flag


def windows_build(value: str, flag: str) -> WindowsBuild:
    try:
        return WindowsBuild.parse(value)
    except ValueError as exc:
        raise InputError(f"{flag} {value}: {exc}") from None


def host_flags(host_build: str | None, host_isolation: Flag) -> tuple[WindowsBuild | None, tuple[str, ...]]:
    """``--host-build`` and ``--host-isolation``: the host to plan for, and the isolation it offers."""
    host = windows_build(host_build, "--host-build") if host_build else None
    offered = tuple(host_isolation or compat.ISOLATIONS)
    for mode in offered:
        if mode not in compat.ISOLATIONS:
            raise InputError(f"--host-isolation {mode}: expected one of: {', '.join(compat.ISOLATIONS)}")
    return host, offered


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,15})://", re.ASCII)


def refuse_scheme(flag: str, value: str) -> None:
    """An image reference has no URL scheme: ``https://registry.example/argoexec`` is refused naming the scheme
    as the fault (before any other check, whose complaint about case or tags would mislead)."""
    found = _SCHEME_RE.match(value)
    if found:
        rest = hide_userinfo(value[found.end():])
        raise InputError(f"{flag} {hide_userinfo(value)}: an image reference has no scheme; drop "
                         f"'{found.group(1)}://' and give {rest or 'REGISTRY/REPO'} (plain http is "
                         "--insecure-registry REGISTRY)")


def destination(matrix: Matrix, to: str) -> str:
    """``--to``: a destination name from matrix.yaml or a repository ``REGISTRY/REPO``; the one reading of
    ``--to`` that every builder, ``push`` and ``publish`` share.

    The registry must be named (a host with a dot or a port, or localhost): a bare word is a typo of
    a destination far more often than a wish to push to Docker Hub."""
    if has_userinfo(to):  # refused without showing it: it would be in this message, and in every log after
        raise InputError(f"--to {hide_userinfo(to)}: give the repository without user:password@; credentials "
                         "come from the Docker config (docker login)")
    refuse_scheme("--to", to)
    known = ", ".join(matrix.registries.destinations) or "none"
    repo = matrix.registries.destinations.get(to, to)
    registry, slash, path = repo.partition("/")
    if not slash or not path:
        raise InputError(f"--to {to}: not a destination of {matrix.file} ({known}) nor a REGISTRY/REPO")
    if not is_registry_host(registry):
        raise InputError(f"--to {to}: {registry!r} is not a registry host (it needs a dot or a port, e.g. "
                         f"registry.example:5000/{path}); destinations of {matrix.file}: {known}")
    if "@" in repo or ":" in path:
        raise InputError(f"--to {to}: give the repository without a tag or digest; tags are the target ids")
    if not REPO_RE.match(repo):
        raise InputError(f"--to {to}: not a valid repository (the path must be lowercase letters, digits and "
                         "separators . _ -)")
    return repo


def with_mirrors(loaded: Matrix, mirror: Flag) -> Matrix:
    """``--mirror FROM=TO`` (repeatable), added to the matrix's mirrors."""
    extra = {}
    for item in [mirror] if isinstance(mirror, str) else (mirror or ()):
        source, sep, target = item.partition("=")
        if has_userinfo(source) or has_userinfo(target):  # refused without showing the password
            raise InputError(f"--mirror {hide_userinfo(source)}{sep}{hide_userinfo(target)}: give the mirror "
                             "without user:password@; credentials come from the Docker config (docker login)")
        refuse_scheme("--mirror", source)
        refuse_scheme("--mirror", target) if sep else None
        if not sep or not matrix_mod.MIRROR_FROM_RE.match(source) or not matrix_mod.REPO_RE.match(target):
            raise InputError(f"--mirror {item}: expected FROM=TO, e.g. mcr.microsoft.com=reg.local:5000/mcr")
        extra[source] = target
    return dataclasses.replace(loaded, mirrors={**loaded.mirrors, **extra}) if extra else loaded


def registry_client(insecure_registry: Flag, attempts: int | None = None, timeout_s: float | None = None):
    """A registry client for ``--insecure-registry`` (and the environment's); ``attempts`` and ``timeout_s``
    narrow the retry policy where an answer is a help, not a condition."""
    from .registry import RegistryClient, env_insecure, env_timeout

    insecure = tuple(insecure_registry or ()) + env_insecure()
    timeout = timeout_s if timeout_s is not None else env_timeout()
    if attempts is None:
        return RegistryClient(insecure=insecure, timeout_s=timeout)
    return RegistryClient(insecure=insecure, timeout_s=timeout, attempts=attempts)


def local_repo(loaded: Matrix, repo: str | None) -> str:
    if repo and not matrix_mod.REPO_RE.match(repo):
        raise InputError(f"--repo {repo}: not a repository name (lowercase, e.g. argoexec-builder/argoexec)")
    return repo or loaded.registries.image


def existing_file(path: str | None, flag: str) -> Path | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise InputError(f"{flag} {path}: no such file")
    return Path(path)


def timeout_seconds(timeout: str) -> float:
    try:
        seconds = float(timeout)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise InputError(f"--timeout {timeout}: expected a number of seconds above 0")
    return seconds


def builder_choice(builder: str) -> str:
    """``--builder``: checked here, once, before any engine is asked."""
    if builder not in plan.BUILDERS:
        raise InputError(f"--builder {builder}: expected one of: {', '.join(plan.BUILDERS)}")
    return builder


# ---------------------------------------------------------------------------------------------
# A whole task's options


@dataclass(frozen=True)
class BuildRun:
    """`invoke build` as asked: every flag checked, before any engine, registry or network is touched."""

    matrix: Matrix
    selected: tuple[targets.Target, ...]
    builder: str  # plan.BUILDERS
    offered: tuple[str, ...]  # the isolation the host offers (--host-isolation)
    engine: str | None  # --engine: an engine named must answer; only the default one may be absent
    options: BuildOptions  # what the builders read
    sevenzip: Path | None = None
    go: str = "auto"
    dist: Path = Path(".")
    compiled: Path | None = None
    insecure_registry: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def made_here(self) -> bool:
        """Whether this run makes argoexec.exe (a dry run reads one that exists, --argoexec-exe or --compiled,
        but makes none)."""
        from . import binaries

        return not (self.options.argoexec_exe or self.compiled) and self.options.binary != binaries.WINDOWS_SOURCE


def build_run(selection: Selection, flags: EngineFlags, builder: str = plan.BUILDER_AUTO,
              argoexec_exe: str | None = None, sevenzip_exe: str | None = None, argo_git: str | None = None,
              to: str | None = None, out: str | None = None, mirror: Flag = None, insecure_registry: Flag = None,
              binary: str = "auto", go: str = "auto", dist: str | None = None, compiled: str | None = None,
              force: bool = False, dry_run: bool = False) -> BuildRun:
    """The flags of `invoke build`, each checked (in the order a user meets them), as one frozen value."""
    from . import binaries

    loaded, selected = selection.resolve(default_bases=None)
    loaded = with_mirrors(loaded, mirror)
    _, offered = host_flags(None, flags.host_isolation)
    builder_choice(builder)
    if binary not in binaries.CHOICES:
        raise InputError(f"--binary {binary}: expected one of: {', '.join(binaries.CHOICES)}")
    if binary == binaries.WINDOWS_SOURCE and builder == plan.BUILDER_OCI:
        raise InputError("--binary windows-source compiles inside servercore: it needs the docker builder on a "
                         "Windows engine, not --builder oci")
    repo = local_repo(loaded, flags.repo)
    exe = existing_file(argoexec_exe, "--argoexec-exe")
    sevenzip = existing_file(sevenzip_exe, "--sevenzip-exe")
    if compiled is not None and (binary not in (binaries.AUTO, binaries.COMPILED) or argoexec_exe):
        raise InputError("--compiled gives the compiled binaries: it goes with --binary compiled (or auto) and "
                         "without --argoexec-exe")
    if not to and force:
        raise InputError("--force rebuilds what --to already holds; without --to every target is built anyway")
    options = BuildOptions(
        repo=repo, results_dir=Path(flags.results or "results"), runner=flags.runner or "local",
        network_mode=flags.network or None, binary=binary, argoexec_exe=exe, argo_git=argo_git or ARGO_GIT,
        to=Reference.parse(destination(loaded, to)) if to else None, out=Path(out or DEFAULT_LAYOUT), force=force)
    return BuildRun(loaded, tuple(selected), builder, offered, flags.engine, options, sevenzip, go,
                    Path(dist or "."), Path(compiled) if compiled else None, tuple(insecure_registry or ()), dry_run)


@dataclass(frozen=True)
class SmokeRun:
    """`invoke smoke` on an engine as asked: the flags checked before the engine is asked."""

    matrix: Matrix
    selected: tuple[targets.Target, ...]
    offered: tuple[str, ...]
    engine: str | None
    options: SmokeOptions  # what smoke.smoke_targets reads
    repo: Reference  # where the images are, and (--skip-verified) their evidence
    skip_verified: bool = False
    insecure_registry: tuple[str, ...] = ()


def smoke_run(selection: Selection, flags: EngineFlags, timeout: str = "120", skip_verified: bool = False,
              insecure_registry: Flag = None) -> SmokeRun:
    """The flags of `invoke smoke` (without --cluster), each checked, as one frozen value."""
    from .smoke import SmokeOptions

    seconds = timeout_seconds(timeout)
    loaded, selected = selection.resolve(default_bases=None)
    _, offered = host_flags(None, flags.host_isolation)
    smoke = SmokeOptions(repo=local_repo(loaded, flags.repo), results_dir=Path(flags.results or "results"),
                         runner=flags.runner or "local", network_mode=flags.network or None, timeout_s=seconds)
    repo = Reference.parse(smoke.repo)
    if skip_verified and not repo.registry_named:
        raise InputError(f"--skip-verified reads the evidence kept in a registry: --repo {smoke.repo} names none; "
                         "pass --repo REGISTRY/REPO")
    return SmokeRun(loaded, tuple(selected), offered, flags.engine, smoke, repo, skip_verified,
                    tuple(insecure_registry or ()))


@dataclass(frozen=True)
class ClusterRun:
    """`invoke smoke --cluster` as asked: the flags checked before the registry or the cluster is asked."""

    matrix: Matrix
    selected: tuple[targets.Target, ...]
    repo: Reference  # where the published per-base images are (--repo, else registries.publish)
    cluster: ClusterFlags
    timeout_s: float
    runner: str  # the runner name of the records
    results_dir: Path = Path("results")
    insecure_registry: tuple[str, ...] = ()


def cluster_run(selection: Selection, flags: EngineFlags, timeout: str | None, cluster: ClusterFlags,
                skip_verified: bool = False, insecure_registry: Flag = None) -> ClusterRun:
    """The flags of `invoke smoke --cluster`, each checked, as one frozen value."""
    import urllib.parse

    from .cluster import DEFAULT_TIMEOUT_S

    if skip_verified:
        raise InputError("--skip-verified skips the checks on an engine whose evidence is in the registry; a "
                         "--cluster run submits its workflow every time: drop one of them")
    seconds = timeout_seconds(timeout or str(DEFAULT_TIMEOUT_S))
    if flags.engine or flags.network or flags.host_isolation:
        raise InputError("--cluster runs hello-windows on the cluster: --engine, --network and --host-isolation "
                         "do not apply")
    loaded, selected = selection.resolve(default_bases=None)
    where = flags.repo or loaded.registries.publish
    repo = Reference.parse(where) if where else None
    if repo is None or not repo.registry_named:
        raise InputError(f"--cluster runs the published image under test, pinned by digest: --repo {where or '(none)'} "
                         "names no registry; pass --repo REGISTRY/REPO (or set registries.publish in the matrix)")
    runner = cluster.name or flags.runner or urllib.parse.urlsplit(cluster.url).hostname or "cluster"
    return ClusterRun(loaded, tuple(selected), repo, cluster, seconds, runner, Path(flags.results or "results"),
                      tuple(insecure_registry or ()))


@dataclass(frozen=True)
class PublishRun:
    """`invoke publish` as asked: the flags checked before anything is read or written."""

    matrix: Matrix  # with --mirror
    versions: tuple[targets.Target, ...]  # the targets of the selected Argo versions
    repo: Reference | None  # --to: the repository of the index tags and the evidence
    no_linux: bool = False
    insecure_registry: tuple[str, ...] = ()
    results: tuple[str, ...] = ()  # folders of records to import first
    db: str | None = None
    docs: str = "docs"
    readme: Path | None = Path("README.md")
    partial: bool = False
    dry_run: bool = False


def publish_run(to: str | None = None, argo: Flag = None, matrix: str | None = None, no_linux: bool = False,
                mirror: Flag = None, insecure_registry: Flag = None, results: Flag = None, db: str | None = None,
                docs: str = "docs", readme: str = "README.md", partial: bool = False,
                dry_run: bool = False) -> PublishRun:
    """The flags of `invoke publish`, each checked, as one frozen value."""
    loaded = with_mirrors(matrix_mod.load_matrix(matrix), mirror)
    versions = targets.select(loaded, "all", argo)
    repo = Reference.parse(destination(loaded, to)) if to else None
    if partial and repo is None:
        raise InputError("--partial publishes an index tag without some of its Windows entries: it goes with --to")
    return PublishRun(loaded, tuple(versions), repo, no_linux, tuple(insecure_registry or ()),
                      tuple([results] if isinstance(results, str) else results or ()), db, docs,
                      Path(readme) if readme else None, partial, dry_run)


def trusted_keys(loaded: Matrix) -> tuple:
    """The public keys whose signed evidence counts (``evidence.trusted_keys`` in the matrix)."""
    from .signing import load_trusted_keys

    return load_trusted_keys(loaded.trusted_key_files())
