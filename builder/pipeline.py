"""The pipeline: one function per task, from the flags as given to the printed result.

tasks.py only declares the flags and calls these. Each function reads the matrix, checks every
flag (bad input is an ``InputError`` naming the flag, before anything is touched), asks the
planner once, hands the plan to the step that does the work, and prints. What a step does lives
in its own module (render, builders, smoke, engine_push, index_tag, table_formats); this module
decides only which of them run, with what.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import checks, compat, inputs, plan, report, targets
from . import matrix as matrix_mod
from . import render as render_mod
from .compat import WindowsBuild
from .errors import InputError, TargetFailed, Unreachable
from .matrix import Matrix
from .progress import Progress
from .secrets import has_userinfo, hide_userinfo

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


# ---------------------------------------------------------------------------------------------
# Reading flags


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


def with_mirrors(loaded: Matrix, mirror: Flag) -> Matrix:
    """``--mirror FROM=TO`` (repeatable), added to the matrix's mirrors."""
    extra = {}
    from .engine_push import refuse_scheme

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

    policy = {"attempts": attempts} if attempts is not None else {}
    return RegistryClient(insecure=tuple(insecure_registry or ()) + env_insecure(),
                          timeout_s=timeout_s if timeout_s is not None else env_timeout(), **policy)


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


def finish(progress: Progress, heading: str, statuses: list[str]) -> None:
    """The summary of a run; exit 1 when any target failed (not-runnable is the rules' word, not a failure)."""
    progress.print_summary(heading)
    failed = [s for s in statuses if s not in (checks.PASS, checks.NOT_RUNNABLE)]
    if failed:
        raise TargetFailed(f"{len(failed)} of {len(statuses)} {heading.lower()} failed; see the records in results/")


# ---------------------------------------------------------------------------------------------
# The tasks


def plan_task(selection: Selection, host_build: str | None, host_isolation: Flag, as_json: bool,
              format: str | None = None) -> None:
    """The plan as a table or blocks for the terminal's width (text), JSON, Markdown or a GitHub step summary."""
    shown = report.plan_format(as_json, format)
    loaded, selected = selection.resolve()
    host, offered = host_flags(host_build, host_isolation)
    planned = plan.make_plan(loaded, selected, host, offered)
    report.print_plan(planned, shown)
    if host is not None:  # a host given with its revision, against the lock's os.version (builder/node_notes.py)
        import sys

        from . import node_notes

        for entry in planned:
            locked = loaded.locked_base(entry.target.release) if entry.target.is_windows else None
            skew = node_notes.revision_skew(locked.os_version if locked else None, host)
            if skew:
                print(f"warning: {entry.target.id}: {skew}", file=sys.stderr)


def compat_task(host: str | None, image: str | None, as_json: bool, matrix: str | None = None) -> None:
    if host is None or image is None:
        raise InputError("--host and --image are both required, e.g. --host 10.0.17763 --image 10.0.17763")
    from .table import resolve_node

    loaded = matrix_mod.load_matrix(matrix)
    # Both take a build, a release or host name (2019, ltsc2022, win11) or a node's windows-build label value.
    host_build, image_build = resolve_node(loaded, host, "--host").build, resolve_node(loaded, image, "--image").build
    answer = compat.compat(host_build, image_build, loaded.stable_abi)
    report.print_compat(answer, str(host_build), str(image_build), as_json)


def render_task(selection: Selection, out: str, variant: str, host_build: str | None, host_isolation: Flag,
                check: bool, update: bool, with_7za: bool = False) -> None:
    host, offered = host_flags(host_build, host_isolation)
    if check and update:
        raise InputError("--check and --update exclude each other: --check compares, --update rewrites")
    if (check or update) and (selection.narrowed or variant != render_mod.COPY or with_7za):
        raise InputError("--check and --update always cover the newest Argo version and every base, copy variant; "
                         "drop --base/--argo/--only/--skip/--variant/--with-7za")
    if check or update:
        # The committed tree is always the newest Argo version, every base, as the CI runners would build it,
        # from matrix.yaml's tags and argo list: not from matrix.lock.json, whose digests move every month.
        loaded = matrix_mod.load_matrix(selection.matrix, lock=False)
        selected = targets.select(loaded, "all", None, None, None, targets.ALL)
        rendered = render_mod.render_all(loaded, plan.make_plan(loaded, selected))
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
    if not out:  # Path("") is the current folder: an empty value is a mistake, not a wish to write here
        raise InputError("--out '': give the folder to write into, e.g. --out build (or --out . for this one)")
    loaded, selected = selection.resolve()
    rendered = render_mod.render_all(loaded, plan.make_plan(loaded, selected, host, offered), variant, with_7za)
    try:
        paths = render_mod.write(rendered, Path(out))
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc}); pick a writable folder") from None
    for path in paths:
        print(path)


@dataclass(frozen=True)
class EngineFlags:
    """The flags of the tasks that use a Docker engine."""

    engine: str | None = None
    repo: str | None = None
    results: str | None = None
    runner: str | None = None
    network: str | None = None
    host_isolation: Flag = None


def _connect(url: str | None, progress: Progress):
    from . import engine as engine_mod

    connected = engine_mod.connect(url)
    progress.console.print(f"engine: {connected.describe()}", markup=False)
    return connected


def build_task(selection: Selection, flags: EngineFlags, builder: str = plan.AUTO, argoexec_exe: str | None = None,
               sevenzip_exe: str | None = None, argo_git: str | None = None, to: str | None = None,
               out: str | None = None, mirror: Flag = None, insecure_registry: Flag = None,
               binary: str = "auto", go: str = "auto", dist: str | None = None,
               compiled: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    """Plan the run once on the engine's host (if any), make each Argo version's binary once, then hand
    each builder its targets. ``dry_run``: say what would be built (and, with --to, skipped), touch nothing."""
    from . import binaries
    from .builders import DEFAULT_LAYOUT, BuildOptions
    from .engine import redact_url
    from .engine_push import destination
    from .registry import Reference
    from .source import ARGO_GIT

    loaded, selected = selection.resolve(default_bases=None)
    loaded = with_mirrors(loaded, mirror)
    _, offered = host_flags(None, flags.host_isolation)
    if builder not in plan.BUILDERS:
        raise InputError(f"--builder {builder}: expected one of: {', '.join(plan.BUILDERS)}")
    if binary not in binaries.CHOICES:
        raise InputError(f"--binary {binary}: expected one of: {', '.join(binaries.CHOICES)}")
    if binary == binaries.WINDOWS_SOURCE and builder == plan.OCI:
        raise InputError("--binary windows-source compiles inside servercore: it needs the docker builder on a "
                         "Windows engine, not --builder oci")
    options = BuildOptions(
        repo=local_repo(loaded, flags.repo), results_dir=Path(flags.results or "results"),
        runner=flags.runner or "local", network_mode=flags.network or None, binary=binary,
        argoexec_exe=existing_file(argoexec_exe, "--argoexec-exe"), argo_git=argo_git or ARGO_GIT,
        out=Path(out or DEFAULT_LAYOUT))
    sevenzip = existing_file(sevenzip_exe, "--sevenzip-exe")
    if compiled is not None and (binary not in (binaries.AUTO, binaries.COMPILED) or argoexec_exe):
        raise InputError("--compiled gives the compiled binaries: it goes with --binary compiled (or auto) and "
                         "without --argoexec-exe")
    if to:  # references are checked before any engine or network call
        options.to = Reference.parse(destination(loaded, to))
    elif force:
        raise InputError("--force rebuilds what --to already holds; without --to every target is built anyway")
    progress = Progress()
    connected = None
    plans: list[plan.PlannedTarget] = []
    if builder != plan.OCI:
        try:
            connected = _connect(flags.engine, progress)
        except Unreachable as exc:
            if builder == plan.DOCKER or flags.engine:
                raise  # an engine named with --engine must answer; only the default one may be absent
            progress.say(f"no Docker engine ({exc}); assembling with the oci builder")  # one line, however long
    try:
        plans = plan.plan_build(loaded, selected, connected.facts if connected else None, builder, offered,
                                redact_url(connected.url) if connected else "the engine")
        linux = [p.target.id for p in plans if not p.target.is_windows]
        if linux:
            if options.argoexec_exe is None:
                raise InputError(f"{', '.join(linux)}: Linux targets build from a prebuilt binary; pass "
                                 "--argoexec-exe PATH")
            binaries.prebuilt(options.argoexec_exe, windows=False)  # the right kind of program, or exit 2
        windows_tags = [p.target.argo.tag for p in plans if p.target.is_windows]
        if binary == binaries.WINDOWS_SOURCE and any(p.builder == plan.OCI for p in plans if p.target.is_windows):
            raise InputError("--binary windows-source compiles inside servercore, and "
                             f"{', '.join(p.target.id for p in plans if p.builder == plan.OCI)} cannot be built on "
                             "this engine; build those with --binary compiled")
        client = registry_client(insecure_registry)  # one for the run: its tokens and answers serve every step
        # A dry run reads a binary that exists (--argoexec-exe, --compiled) but makes none.
        made_here = not (options.argoexec_exe or compiled) and binary != binaries.WINDOWS_SOURCE
        if dry_run and made_here and windows_tags:
            way = {binaries.COMPILED: "compiled (`invoke compile`)", binaries.UPSTREAM: "read from upstream's image",
                   binaries.AUTO: "compiled (`invoke compile`), or read from upstream's image if no Go here can "
                                  "compile it"}[binary]
            for tag in dict.fromkeys(windows_tags):
                progress.say(f"{tag}: argoexec.exe would be {way}")
        else:
            options.binaries = binaries.for_windows_targets(
                windows_tags, binary, matrix=loaded, argoexec_exe=options.argoexec_exe, sevenzip_exe=sevenzip,
                go=go, argo_git=options.argo_git, output=Path(dist or "."),
                client_factory=lambda: client, say=progress.say,
                compiled_dir=Path(compiled) if compiled else None)
        for tag, made in options.binaries.items():
            progress.say(f"{tag}: {made.summary}")
            locked_commit(loaded, tag, made.commit)
        statuses = []
        for builder_impl in make_builders(loaded, connected, options, client, plans, progress):
            share = [p for p in plans if p.builder == builder_impl.name]
            builder_impl.dry_run = dry_run
            if dry_run:
                dry_run_build(builder_impl, share, options, force, client, progress,
                              inputs_known=not (made_here and windows_tags) and binary != binaries.WINDOWS_SOURCE)
                continue
            if options.to is not None:
                # Incremental: a target whose image at --to was made from the same inputs is not built again.
                share = inputs.split(share, builder_impl.inputs, client, options.to, force, progress,
                                     content_of=getattr(builder_impl, "content", None))
            for outcome in builder_impl.build(share, progress):
                statuses.append(outcome.record.status)
                if outcome.ok:
                    print(builder_impl.done.format(image=outcome.image, digest=outcome.digest))
    except Unreachable as exc:
        # Offline (a connection that could not be made, not a registry answering an error): one try tells the build
        # everything it needs from the network, not only the first thing it missed.
        text = str(exc)
        destination_failed = options.to is not None and f"registry {options.to.registry}:" in text
        needs = network_needs(loaded, plans, options, binary, compiled, go) if (
            plans and _OFFLINE_RE.search(text) and not destination_failed) else []
        failed = with_next_step(exc, loaded)
        if needs:
            failed = Unreachable(f"{failed}. This build needs from the network: {'; '.join(needs)}")
        raise failed from None
    finally:
        if connected is not None:
            connected.close()
    if dry_run:
        needs = network_needs(loaded, plans, options, binary, compiled, go)
        print("network this build would use:" + "".join(f"\n  - {need}" for need in needs) if needs
              else "network this build would use: none")
        print("dry run: nothing was built, pushed or written")
        return
    finish(progress, "Builds", statuses)


_OFFLINE_RE = re.compile(r"refused|could ?n[o']t (connect|resolve)|failed to connect|not known|no route|"
                         r"unreachable|name resolution|timed out|no such host", re.IGNORECASE)


def network_needs(loaded: Matrix, plans: list[plan.PlannedTarget], options, binary: str, compiled: str | None,
                  go: str) -> list[str]:
    """What a build run reads from (or writes to) the network, each with how to do without it: said by
    ``--dry-run``, and with the first unreachable one, so that an offline build learns everything it needs at once."""
    from . import binaries
    from .registry import Reference

    needs = []
    windows = [p for p in plans if p.target.is_windows]
    if windows and options.argoexec_exe is None and compiled is None:
        if binary in (binaries.COMPILED, binaries.AUTO):
            # --binary auto compiles when a Go here can, else takes upstream's: both are said.
            fallback = (f"; without a Go here, upstream's image {loaded.registries.argoexec}:<argo>-windows instead"
                        if binary == binaries.AUTO else "")
            needs.append(f"the Argo source ({redact_git(options.argo_git)}; or --argoexec-exe PATH, or --compiled DIR)")
            needs.append("Go and its modules (" + ("the go on PATH" if go == "local" else "golang:<go.mod's go> "
                         "from Docker Hub, or the go on PATH") + ", and the Go module proxy; or --argoexec-exe PATH"
                         + fallback + ")")
        elif binary == binaries.UPSTREAM:
            needs.append(f"upstream's image {loaded.registries.argoexec}:<argo>-windows (or --argoexec-exe PATH)")
    for builder_name, what in ((plan.OCI, "read"), (plan.DOCKER, "pulled by the engine unless present")):
        releases = [p.target.release for p in windows if p.builder == builder_name and p.target.release]
        if not releases:
            continue
        flavours = ("nanoserver", "servercore") if builder_name == plan.OCI else ("nanoserver",)
        hosts = sorted({Reference.parse(loaded.base_image(r, f)).registry for r in releases for f in flavours})
        mirror = "" if loaded.mirrors else f"; or --mirror {loaded.registries.windows.split('/')[0]}=MIRROR/PATH"
        needs.append(f"the bases of {', '.join(dict.fromkeys(r.name for r in releases))} from {', '.join(hosts)} "
                     f"({what}{mirror})")
    if options.to is not None:
        needs.append(f"{options.to.registry} for --to (a manifest read per target, then the pushes)")
    return needs


def redact_git(url: str) -> str:
    from .secrets import strip_userinfo

    return strip_userinfo(url)


def dry_run_build(builder_impl, plans: list[plan.PlannedTarget], options, force: bool, client, progress: Progress,
                  inputs_known: bool) -> None:
    """What a build would do with each target: build it (and how), or, with --to, skip it as unchanged."""
    def how(planned: plan.PlannedTarget) -> str:
        where = f", {planned.isolation} isolation" if planned.isolation and builder_impl.name == plan.DOCKER else ""
        return f"{builder_impl.name} builder{where}"

    if options.to is None or not inputs_known:
        for planned in plans:
            reason = "" if options.to is None else "; its inputs are known once argoexec.exe exists"
            progress.say(f"would build {planned.target.id} ({how(planned)}){reason}")
        return
    for planned in inputs.split(plans, builder_impl.inputs, client, options.to, force, progress, dry_run=True,
                                content_of=getattr(builder_impl, "content", None)):
        progress.say(f"  ({how(planned)}, pushed to {options.to}:{planned.target.id})")


def with_next_step(exc: Unreachable, loaded: Matrix, publishing: bool = False) -> Unreachable:
    """An unreachable source registry, with what can be done without it: read through a mirror, or (for
    upstream's image) give the binary, or leave out its linux entries."""
    text = str(exc)
    steps = []
    for source in dict.fromkeys((loaded.registries.windows, loaded.registries.argoexec)):
        host = source.split("/")[0]
        if f"registry {host}:" in text or f"registry {host} " in text:
            steps.append(f"read {host} through a mirror: --mirror {host}=MIRROR/PATH (or `mirrors:` in "
                         f"{loaded.file})")
            if source == loaded.registries.argoexec:
                steps.append("leave out upstream's linux entries: --no-linux" if publishing
                             else "give argoexec.exe yourself: --argoexec-exe PATH")
    return Unreachable(f"{text}; or {'; or '.join(steps)}") if steps else exc


def make_builders(loaded: Matrix, connected, options, client, plans: list[plan.PlannedTarget], progress: Progress):
    """The builders this run needs, in the order they run (the engine's first)."""
    from .builders.docker import DockerBuilder
    from .builders.oci import OciBuilder

    needed = {p.builder for p in plans}
    builders = []
    if plan.DOCKER in needed:
        builders.append(DockerBuilder(connected, loaded, options, progress))
    if plan.OCI in needed:
        builders.append(OciBuilder(loaded, client, options, progress))
    return builders


def compile_task(argo: str | None, go: str = "auto", source: str | None = None, argo_git: str | None = None,
                 out: str | None = None, engine: str | None = None, matrix: str | None = None) -> None:
    """argoexec.exe for one Argo version, cross-compiled on Linux: ``dist/bin/<argo>/windows-amd64/``."""
    from .compile import compile_argoexec
    from .source import ARGO_GIT

    if source is not None and not Path(source).is_dir():
        raise InputError(f"--source {source}: no such folder; give a local Argo Workflows tree")
    if source is None:
        (target, *_) = targets.select(matrix_mod.load_matrix(matrix), "all", argo)
        tag, hint = target.argo.tag, target.argo.go
    elif not argo:
        raise InputError("--argo is required with --source: the tag to stamp into the binary, e.g. v4.1.2")
    else:
        tag, hint = argo, None
    progress = Progress()
    made = compile_argoexec(tag, output=Path(out or "."), go=go, source=Path(source) if source else None,
                            instead="pass --argo-git URL, or --source DIR (a local Argo Workflows tree)",
                            argo_git=argo_git or ARGO_GIT, engine_url=engine,
                            progress=progress.say, go_hint=hint)
    print(f"{'cached' if made.cached else 'compiled'} {made.exe} sha256:{made.sha256} ({made.tag} {made.commit[:12]} "
          f"{made.tree_state}, {made.go_version} via {made.go_how})")
    if source is None:
        locked_commit(matrix_mod.load_matrix(matrix), tag, made.commit)


def locked_commit(loaded: Matrix, tag: str, commit: str | None) -> None:
    """A binary compiled from another commit than the lock pins for its tag (the tag moved upstream since
    the refresh) is refused: the run builds what the lock says, or nothing."""
    pinned = next((a.commit for a in loaded.argo if a.tag == tag), None)
    if pinned and commit and commit != pinned:
        raise InputError(f"{tag}: {loaded.lock.file} pins commit {pinned[:12]}, but argoexec.exe was compiled from "
                         f"{commit[:12]} (the tag moved since the refresh?); run `invoke refresh`, then compile again")


def smoke_task(selection: Selection, flags: EngineFlags, timeout: str = "120", skip_verified: bool = False,
               insecure_registry: Flag = None) -> None:
    from .engine import redact_url
    from .registry import Reference
    from .smoke import SmokeOptions, smoke_targets

    seconds = timeout_seconds(timeout)
    loaded, selected = selection.resolve(default_bases=None)
    _, offered = host_flags(None, flags.host_isolation)
    options = SmokeOptions(repo=local_repo(loaded, flags.repo), results_dir=Path(flags.results or "results"),
                           runner=flags.runner or "local", network_mode=flags.network or None, timeout_s=seconds)
    repo = Reference.parse(options.repo)
    if skip_verified and not repo.registry_named:
        raise InputError(f"--skip-verified reads the evidence kept in a registry: --repo {options.repo} names none; "
                         "pass --repo REGISTRY/REPO")
    progress = Progress()
    connected = _connect(flags.engine, progress)
    try:
        plans = plan.plan_smoke(loaded, selected, connected.facts, offered, redact_url(connected.url))
        if skip_verified:
            plans = unverified(plans, registry_client(insecure_registry), repo, options.runner, connected.facts,
                               progress, trusted_keys(loaded))
        records = smoke_targets(connected, plans, options, progress)
    finally:
        connected.close()
    finish(progress, "Checks", [r.status for r in records])


def trusted_keys(loaded: Matrix) -> tuple:
    """The public keys whose signed evidence counts (``evidence.trusted_keys`` in the matrix)."""
    from .signing import load_trusted_keys

    return load_trusted_keys(loaded.trusted_key_files())


def unverified(plans: list[plan.PlannedTarget], client, repo, runner: str, facts: compat.HostFacts,
               progress: Progress, trusted: tuple = ()) -> list[plan.PlannedTarget]:
    """The plans whose image (the digest its tag has now) has no passing run of every smoke check on this runner,
    this host (its full os.version: a patched host checks again) and this isolation in its counted evidence
    (signed by a ``trusted`` key, about this digest and target; see builder/evidence.py)."""
    from . import evidence

    host = str(facts.build) if facts.build else None
    keep = []
    for planned in plans:
        here = planned.smoke_here
        digest = client.head_manifest(repo.with_tag(planned.target.id)) if here else None
        if digest is None:
            keep.append(planned)  # not runnable here, or not published: the checks say so
            continue
        newest: dict[str, dict] = {}
        for record in evidence.read_evidence(client, repo, digest, trusted=trusted, target=planned.target.id):
            if (record["image_digest"], record["runner"], record.get("host_os_version"), record.get("isolation")) \
                    == (digest, runner, host, here.isolation) and (
                    record["check"] not in newest or record["started_at"] > newest[record["check"]]["started_at"]):
                newest[record["check"]] = record
        wanted = checks.smoke_names(planned.target.os)
        if all(name in newest and newest[name]["status"] == checks.PASS for name in wanted):
            when = max(newest[name]["started_at"] for name in wanted)
            progress.skip(planned.target.id, f"verified {when} on {runner} (host {host or facts.os_type}, "
                                             f"{here.isolation or 'default'} isolation) for {digest[:19]}")
        else:
            keep.append(planned)
    return keep


@dataclass(frozen=True)
class ClusterFlags:
    """The flags of `invoke smoke --cluster`."""

    url: str
    token_env: str | None = None
    insecure: bool = False
    namespace: str = "argo"
    hybrid: bool = False
    name: str | None = None  # the runner name of its records (default: the server's host)


def cluster_smoke_task(selection: Selection, flags: EngineFlags, timeout: str | None, cluster: ClusterFlags,
                       skip_verified: bool = False, insecure_registry: Flag = None) -> None:
    """The cluster check of each selected target's published per-base image, pinned by digest: from ``--repo``,
    else the matrix's publish repository (a target not published there is refused before anything is submitted)."""
    import urllib.parse

    from .cluster import DEFAULT_TIMEOUT_S, cluster_smoke
    from .registry import Reference

    if skip_verified:
        raise InputError("--skip-verified skips the checks on an engine whose evidence is in the registry; a "
                         "--cluster run submits its workflow every time: drop one of them")
    seconds = timeout_seconds(timeout or str(DEFAULT_TIMEOUT_S))
    if flags.engine or flags.network or flags.host_isolation:
        raise InputError("--cluster runs hello-windows on the cluster: --engine, --network and --host-isolation "
                         "do not apply")
    loaded, selected = selection.resolve(default_bases=None)
    plans = plan.make_plan(loaded, selected)
    where = flags.repo or loaded.registries.publish
    repo = Reference.parse(where) if where else None
    if repo is None or not repo.registry_named:
        raise InputError(f"--cluster runs the published image under test, pinned by digest: --repo {where or '(none)'} "
                         "names no registry; pass --repo REGISTRY/REPO (or set registries.publish in the matrix)")
    client = registry_client(insecure_registry)
    executors: dict[str, tuple[str, str]] = {}
    for planned in plans:
        if planned.target.is_windows:
            tagged = repo.with_tag(planned.target.id)
            digest = client.head_manifest(tagged)
            if digest is None:
                raise InputError(f"{tagged}: not published; push it first (invoke build --to {repo}) or pass --repo "
                                 "where it is")
            executors[planned.target.id] = (str(tagged), digest)
    runner = cluster.name or flags.runner or urllib.parse.urlsplit(cluster.url).hostname or "cluster"
    progress = Progress()
    records = cluster_smoke(plans, url=cluster.url, token_env=cluster.token_env, insecure=cluster.insecure,
                            namespace=cluster.namespace, hybrid=cluster.hybrid, timeout_s=seconds,
                            runner=runner, results_dir=Path(flags.results or "results"),
                            progress=progress, executors=executors)
    finish(progress, "Checks", [r.status for r in records])


def push_task(selection: Selection, to: str, engine: str | None = None, repo: str | None = None,
              dry_run: bool = False) -> None:
    from .engine_push import destination, push_targets

    loaded, selected = selection.resolve(default_bases=None)
    where = destination(loaded, to)
    progress = Progress()
    connected = _connect(engine, progress)
    try:
        pushed = push_targets(connected, selected, where, local_repo(loaded, repo), progress, dry_run)
    finally:
        connected.close()
    for item in pushed:
        print(f"{item.reference}@{item.digest}")
    if dry_run:
        print("dry run: nothing was tagged or pushed")


def import_results(db: str | None, dirs: Iterable[str], dry_run: bool = False):
    """Import result records into the results database (``dry_run``: into a copy in memory); print what happened."""
    from . import store

    missing = [d for d in dirs if not Path(d).exists()]
    if missing:  # before the database is opened: bad input creates nothing
        raise InputError(f"{missing[0]}: no such folder; pass the folders that hold result records")
    path = Path(db) if db else store.DEFAULT_DB
    connection = store.scratch_copy(path) if dry_run else store.connect(path)
    imported = store.import_paths(connection, [Path(d) for d in dirs])
    for problem in imported.problems:
        print(f"skipped: {problem}")
    for note in imported.notes:
        print(f"note: {note}")
    print(f"imported {imported.imported} record{'s' if imported.imported != 1 else ''} ({imported.duplicates} "
          f"already known, {len(imported.problems)} skipped)")
    if imported.imported + imported.duplicates + len(imported.problems) == 0:
        print(f"warning: no *.json records under {', '.join(map(str, dirs))}")
    return connection, imported


def _malformed(problems: list[str]) -> None:
    if problems:
        raise TargetFailed(f"{len(problems)} result record(s) were malformed and skipped; see above")


def import_task(dirs: Flag, db: str | None) -> None:
    if not dirs:
        raise InputError("--dir is required: a folder of result records (repeatable)")
    _, imported = import_results(db, [dirs] if isinstance(dirs, str) else dirs)
    _malformed(imported.problems)


def publish_task(to: str | None = None, argo: Flag = None, matrix: str | None = None, no_linux: bool = False,
                 mirror: Flag = None, insecure_registry: Flag = None, results: Flag = None, db: str | None = None,
                 docs: str = "docs", readme: str = "README.md", partial: bool = False, dry_run: bool = False) -> None:
    """With ``to``: the index tags first (the per-base digests they find say which records count), then the
    table (Markdown, JSON, HTML, README section) from every record of the published digests. ``dry_run``:
    the same reads and decisions, said as what would be written; nothing is written anywhere."""
    from . import store, table_formats
    from . import table as table_mod
    from .engine_push import destination
    from .errors import IndexIncomplete
    from .index_tag import publish_index
    from .registry import Reference

    loaded = with_mirrors(matrix_mod.load_matrix(matrix), mirror)
    versions = targets.select(loaded, "all", argo)
    # Every input is checked before anything is written.
    repo = Reference.parse(destination(loaded, to)) if to else None
    if partial and repo is None:
        raise InputError("--partial publishes an index tag without some of its Windows entries: it goes with --to")
    client = registry_client(insecure_registry) if repo is not None else None
    trusted = trusted_keys(loaded)
    signer = None
    if repo is not None:
        from .signing import signer_from_environment

        signer = signer_from_environment()
    readme_path = Path(readme) if readme else None
    table_formats.check_readme(readme_path)
    imported = None
    if results:
        connection, imported = import_results(db, [results] if isinstance(results, str) else results, dry_run)
    else:
        path = Path(db) if db else store.DEFAULT_DB
        connection = store.scratch_copy(path) if dry_run else store.connect(path)
    incomplete: list[str] = []
    evidence_problems: list[str] = []
    publication = None
    if repo is not None:
        progress = Progress()
        publication = table_mod.Publication(str(repo))
        images = []  # the per-base entries found, each a published image the table has a row for
        for tag in dict.fromkeys(t.argo.tag for t in versions):
            expected = tuple(t.id for t in versions if t.argo.tag == tag and t.is_windows)
            try:
                published = publish_index(client, loaded, repo, tag, progress, with_linux=not no_linux,
                                          expected=expected, partial=partial, dry_run=dry_run)
            except Unreachable as exc:
                raise with_next_step(exc, loaded, publishing=True) from None
            except IndexIncomplete as exc:
                incomplete.append(str(exc))
                # The table says what is there: the index as it was, the per-base tags as they are.
                publication.indexes[tag] = client.head_manifest(repo.with_tag(tag))
                images.extend(e for e in exc.entries if e.target)
                continue
            publication.indexes[tag] = published.digest
            images.extend(e for e in published.entries if e.target)
            state = ("would be written" if dry_run else "written") if published.changed else "unchanged"
            print(f"{published.reference}@{published.digest} ({len(published.entries)} entries, {state})")
        publication.images.update({e.target: e.digest for e in images})
        evidence_problems = exchange_evidence(client, repo, images, connection, progress, dry_run, signer, trusted)
    elif loaded.registries.publish:
        publication = table_mod.Publication(loaded.registries.publish)
    model = table_mod.build_table(loaded, store.all_records(connection), publication)
    try:
        written = table_formats.write_outputs(model, Path(docs), readme_path, dry_run)
    except OSError as exc:
        raise InputError(f"--docs {docs}: cannot write there ({exc.strerror or exc})") from None
    for path, changed in written:
        print(f"{('would write' if dry_run else 'wrote') if changed else 'unchanged'} {path}")
    if dry_run:
        print("dry run: nothing was written (no tag, no evidence, no file, no database)")
    if incomplete:
        for line in incomplete[:-1]:
            print(f"error: {line}")
        raise IndexIncomplete(incomplete[-1])
    if imported is not None:
        _malformed(imported.problems)
    if evidence_problems:
        raise TargetFailed(f"{len(evidence_problems)} evidence artifact(s) could not be read; see the warnings above")


def exchange_evidence(client, repo, images: list, connection, progress: Progress, dry_run: bool = False,
                      signer=None, trusted: tuple = ()) -> list[str]:
    """For each published image: import the evidence its registry keeps that counts (signed by a ``trusted`` key,
    about that digest and target; what does not count is said, never imported), so nothing verified is
    forgotten when a runner reports nothing tonight; then, with a ``signer``, push the records of its digest
    the registry lacks, signed. Without one, nothing is pushed, and that is said once."""
    from . import evidence, store
    from .signing import SIGNING_KEY_ENV

    problems: list[str] = []
    progress.begin(f"evidence in {repo}")
    pushed = 0
    if signer is None:
        progress.line(f"no evidence pushed: ${SIGNING_KEY_ENV} is not set (publish signs what it pushes)")
    elif signer.keyid not in {key.keyid for key in trusted}:
        progress.line(f"warning: the signing key {signer.keyid} is not in evidence.trusted_keys: what is pushed "
                      "will not count")
    known: dict[tuple[str, str], list[dict]] = {}
    for record in store.all_records(connection):
        known.setdefault((record["target"], record["image_digest"]), []).append(record)
    for entry in images:
        found = evidence.load_evidence(client, repo, entry.digest, trusted, entry.target)
        for problem in found.problems:
            progress.line(f"warning: {problem}")
        # An entry that is no evidence artifact at all is reported here once and dropped from the referrers
        # tag (or by the push below): it does not fail this publish, nor every later one.
        foreign = {a.problem for a in found.not_evidence}
        if not dry_run:
            evidence.drop_not_evidence(client, repo, found, progress.line)
        problems.extend(p for p in found.problems if p not in foreign or found.via != evidence.TAG)
        for refused in found.not_counted:
            progress.line(f"not counted: {len(refused.records)} record(s) of {refused.artifact[:19]} for "
                          f"{entry.target}: {refused.reason}")
        if found.records:
            store.import_records(connection, found.records, f"evidence of {entry.target}")
        ours = known.get((entry.target, entry.digest), [])
        if not ours or signer is None:
            continue
        subject = evidence.Descriptor(entry.media_type, entry.digest, entry.size)
        result = evidence.push_evidence(client, repo, subject, [_present(r) for r in ours], signer,
                                        say=progress.line, existing=found, dry_run=dry_run)
        pushed += int(result.changed)
    progress.end(f"evidence in {repo}", checks.PASS if not problems else checks.FAIL,
                 f"{len(images)} images, {pushed} with new evidence" + (" (would be pushed)" if dry_run else ""))
    return problems


def _present(record: dict) -> dict:
    """A stored record as the tool writes one (results.Record.to_json leaves out a null ``argoexec`` and ``node``)."""
    return {k: v for k, v in record.items() if not (k in ("argoexec", "node") and v is None)}


TABLE_FORMATS = ("text", "markdown", "json", "html")


# All of which's digest lookups together get at most this long (the issue asks for at most 5 s): a registry that
# accepts connections and never answers costs the user this, not a timeout per tag, and `which` still answers
# within 6 s of being started on a loaded machine (interpreter start and imports take up to 2 s there).
LOOKUP_DEADLINE_S = 3.0


def _table_model(matrix: str | None, db: str | None, argo: Flag, lookup: bool = False,
                 insecure_registry: Flag = None, notes: list[str] | None = None):
    """The matrix, and the table of the selected Argo versions from the store's records, naming the matrix's
    publish repository; with ``lookup``, with the digests its tags have now (see ``published_digests``; what kept
    them unknown goes into ``notes``)."""
    from . import store, table_formats
    from . import table as table_mod

    loaded = matrix_mod.load_matrix(matrix)
    wanted = [t.argo.tag for t in targets.select(loaded, "all", argo or "all")]
    connection = store.open_for_reading(Path(db) if db else None)
    publication = table_mod.Publication(loaded.registries.publish) if loaded.registries.publish else None
    if publication is not None and lookup:
        note = published_digests(publication, [t for t in all_windows_targets(loaded) if t.argo.tag in wanted],
                                 insecure_registry)
        if note and notes is not None:
            notes.append(note)
    model = table_formats.only_argo(table_mod.build_table(loaded, store.all_records(connection), publication), wanted)
    return loaded, model


def all_windows_targets(loaded: Matrix) -> list[targets.Target]:
    return [t for t in targets.all_targets(loaded) if t.is_windows]


_UNREACHABLE_WHY_RE = re.compile(r"failed after \d+ attempts? \((.{1,80}?)\); check")


def published_digests(publication, windows: list[targets.Target], insecure_registry: Flag = None,
                      deadline_s: float = LOOKUP_DEADLINE_S) -> str | None:
    """Fill ``publication`` with the digests its tags have now: a HEAD for each ``REPO:<argo>`` and per-base tag,
    one attempt each, all of them within ``deadline_s``. A registry that cannot be asked in time leaves them
    unknown (the answer is still the rules' and the records'): looking up is a help, not a condition. Returns the
    one short line saying why none was looked up, or None."""
    import threading

    from .errors import BuilderError, in_words
    from .registry import Reference

    repo = Reference.parse(publication.repository)
    # Each request may take longer than the deadline: the deadline below, not a request timeout, ends the wait.
    client = registry_client(insecure_registry, attempts=1, timeout_s=deadline_s + 2)
    found: dict[str, dict[str, str | None]] = {"indexes": {}, "images": {}}
    failure: list[str] = []

    def look_up() -> None:
        try:
            for argo in dict.fromkeys(t.argo.tag for t in windows):
                found["indexes"][argo] = client.head_manifest(repo.with_tag(argo))
            for target in windows:
                found["images"][target.id] = client.head_manifest(repo.with_tag(target.id))
        except BuilderError as exc:
            match = _UNREACHABLE_WHY_RE.search(str(exc))
            failure.append(match.group(1) if match else in_words(exc))
        except Exception as exc:  # noqa: BLE001 - a help, not a condition: any failure leaves the digests unknown
            failure.append(in_words(exc))

    # The lookups run in a thread of their own, given up (it is a daemon) when the deadline passes: the
    # transport's own timeouts apply per request, this one to all of them together.
    worker = threading.Thread(target=look_up, name="which-digest-lookup", daemon=True)
    worker.start()
    worker.join(deadline_s)
    skip = "--offline skips the lookup"
    # What was found before the deadline or the failure is used (a snapshot: a late answer changes nothing).
    publication.indexes.update(dict(found["indexes"]))
    publication.images.update(dict(found["images"]))
    got = sum(1 for d in (publication.indexes, publication.images) for v in d.values() if v)
    some = f" ({got} found before it)" if got else ""
    if worker.is_alive():
        return f"note: {repo.registry} did not answer within {deadline_s:g} s{some}; {skip}"
    if failure:
        return f"note: digests not looked up in {repo.registry} ({failure[0]}){some}; {skip}"
    return None


def table_task(matrix: str | None = None, db: str | None = None, argo: Flag = None, host: str | None = None,
               format: str = "text", offline: bool = False, insecure_registry: Flag = None) -> None:
    from . import table_formats

    if format not in TABLE_FORMATS:
        raise InputError(f"--format {format}: expected {', '.join(TABLE_FORMATS[:-1])} or {TABLE_FORMATS[-1]}")
    if host:
        if format not in WHICH_FORMATS[:2]:
            raise InputError(f"--host answers in text or json, not {format}")
        which_task(host, argo, format, matrix, db, flag="--host", offline=offline,
                   insecure_registry=insecure_registry)
        return
    _, model = _table_model(matrix, db, argo)
    if format == "text":
        table_formats.to_text(model, report.console())
    else:
        text = {"markdown": table_formats.to_markdown, "json": table_formats.to_json,
                "html": table_formats.to_html}[format](model)
        print(text, end="")


WHICH_FORMATS = ("text", "json", "helm")


def which_task(node: str | None, argo: Flag = None, format: str = "text", matrix: str | None = None,
               db: str | None = None, flag: str = "--node", offline: bool = False,
               insecure_registry: Flag = None, verbose: bool = False) -> None:
    """``invoke which``: for a node (a build, a release name or its node.kubernetes.io/windows-build label), per
    Argo version the image to use, how, how sure, and the entry of the one tag Docker Engine and containerd take."""
    from . import table as table_mod
    from . import table_formats

    if format not in WHICH_FORMATS:
        raise InputError(f"--format {format}: expected text, json or helm")
    if not node:
        raise InputError(f"{flag} is required: a build (10.0.17763), a release (2019, ltsc2022) or the value of a "
                         f"node's {table_mod.LABEL} label")
    loaded = matrix_mod.load_matrix(matrix)
    resolved = table_mod.resolve_node(loaded, node, flag)  # a bad spelling is exit 2 before the store is read
    if format == "helm":
        argo = argo or [loaded.newest_argo.tag]
        if isinstance(argo, (list, tuple)) and len(argo) != 1:
            raise InputError("--format helm sets one executor image: give one --argo (default: the newest)")
        if not loaded.registries.publish:
            raise InputError("--format helm needs the repository the images are published to: set registries.publish "
                             "in the matrix")
    notes: list[str] = []
    _, model = _table_model(matrix, db, argo, lookup=not offline, insecure_registry=insecure_registry, notes=notes)
    resolutions = table_mod.resolve(model, resolved)
    for note in notes:
        print("\n".join(table_formats.wrap(note, report.text_width())), file=sys.stderr)
    node_warnings = {res.argo: _which_warnings(loaded, resolved, res) for res in resolutions}
    if format == "json":
        print(table_formats.which_json(resolved, resolutions, table_mod.oldest_image(model), node_warnings), end="")
    elif format == "helm":
        print(table_formats.which_helm(resolved, resolutions[0], loaded.registries.publish), end="")
    else:
        print(table_formats.which_text(resolved, resolutions, model.hosts, width=report.text_width(),
                                       verbose=verbose, oldest=table_mod.oldest_image(model),
                                       note=table_formats.placeholder_note(model), notes=node_warnings))


def _which_warnings(loaded: matrix_mod.Matrix, node, resolution) -> list[str]:
    """node_notes' warnings for the image ``which`` prefers on the node: its os.version from the lock (with the
    revision) when the lock pins its base, else the build alone."""
    from . import node_notes

    row = resolution.preferred.row
    if row is None:  # no image runs on the node: nothing to warn about running one
        return []
    release = next((r for r in loaded.releases if r.name == row.base), None)
    locked = loaded.locked_base(release) if release is not None else None
    os_version = locked.os_version if locked is not None else row.os_version
    return node_notes.for_node(node.build, resolution.argo, os_version)


def refresh_task(matrix: str | None = None, check: bool = False, mirror: Flag = None,
                 insecure_registry: Flag = None) -> None:
    """matrix.lock.json: the bases' digests and the Argo releases, resolved now (see builder/refresh.py)."""
    from .refresh import refresh

    loaded = with_mirrors(matrix_mod.load_matrix(matrix, lock=False), mirror)
    refresh(loaded, Path(matrix) if matrix else matrix_mod.DEFAULT_MATRIX, registry_client(insecure_registry),
            check=check)


def ci_matrix_task(selection: Selection) -> None:
    import os
    import sys

    from . import ci

    loaded, selected = selection.resolve()
    present, left_out = ci.present_runners(loaded, os.environ)
    for line in left_out:  # stdout is the JSON the workflow reads
        print(f"ci-matrix: {line}", file=sys.stderr)
    print(json.dumps(ci.ci_matrix(present, plan.make_plan(present, selected)), separators=(",", ":")))


def doctor_task(engine: str | None = None, runner: str | None = None, matrix: str | None = None,
                as_json: bool = False, min_free_gb: str | None = None) -> None:
    """Check the host a runner job would use: one line per check (ok, warn, fail), exit 1 if any failed."""
    import os

    from . import doctor
    from .engine import connect

    loaded = matrix_mod.load_matrix(matrix)
    selected = doctor.named_runner(loaded, runner)  # bad input before the engine is touched
    minimum = doctor.min_free_gb(min_free_gb)
    try:
        connected = connect(engine)
    except Unreachable as exc:
        # Every check is still listed: the engine's fails, those that need its answers are skipped; exit 4.
        results = doctor.without_engine(loaded, selected, str(exc).removeprefix("cannot reach the Docker engine "),
                                        os.environ)
        _print_doctor(results, as_json)
        raise
    try:
        results = doctor.run_checks(connected, loaded, selected, minimum, os.environ)
    finally:
        connected.close()
    _print_doctor(results, as_json)
    failures = doctor.failed(results)
    if failures:
        raise TargetFailed(f"{len(failures)} of {len(results)} checks failed: "
                           f"{', '.join(r.check for r in failures)}")


def _print_doctor(results: list, as_json: bool) -> None:
    if as_json:
        print(report.dumps([r.to_json() for r in results]))
    else:
        for result in results:
            print(result.line())


EVIDENCE_FORMATS = ("text", "json")
EVIDENCE_COLUMNS = (("check", "check"), ("status", "status"), ("runner", "runner"),
                    ("host os.version", "host_os_version"), ("isolation", "isolation"),
                    ("engine", "engine_version"), ("date", "started_at"))


def evidence_task(ref: str | None, format: str = "text", insecure_registry: Flag = None,
                  matrix: str | None = None) -> None:
    """What was verified for exactly the image REF names: the evidence artifacts attached to it in its registry,
    the records that count (signed by a key of the matrix's ``evidence.trusted_keys``) beside those that do not,
    each with its reason.

    An index (the multi-platform tag) shows the evidence of each of its Windows entries."""
    from . import evidence
    from .registry import INDEX_TYPES, MANIFEST_TYPES, Reference, image_index

    if format not in EVIDENCE_FORMATS:
        raise InputError(f"--format {format}: expected {' or '.join(EVIDENCE_FORMATS)}")
    if not ref:
        raise InputError("REF is required: REGISTRY/REPO:TAG, REGISTRY/REPO@sha256:... or both")
    if has_userinfo(ref):  # refused without showing the password
        raise InputError(f"{hide_userinfo(ref)}: give the reference without user:password@; credentials come "
                         "from the Docker config (docker login)")
    reference = Reference.parse(ref, strict=True, what="REF")
    trusted = trusted_keys(matrix_mod.load_matrix(matrix))
    client = registry_client(insecure_registry)
    digest = reference.digest
    if digest is None:
        digest = client.head_manifest(reference)
        if digest is None:
            raise InputError(f"{reference}: no such tag in registry {reference.registry}")
    shown = Reference(reference.registry, reference.repository, reference.tag, digest)
    found = evidence.subject_of(client, Reference(reference.registry, reference.repository, None, digest))
    if found is None:
        raise InputError(f"{shown}: no such manifest in registry {reference.registry}")
    subject, body = found
    repo = Reference(reference.registry, reference.repository)
    document = {"reference": str(shown), "subject": subject.to_json()}
    if subject.media_type in INDEX_TYPES:
        entries = [m for m in image_index(body, f"{shown}: the index").get("manifests", [])
                   if m.get("platform", {}).get("os") == "windows" and m["mediaType"] in MANIFEST_TYPES]
        document["images"] = [{"platform": m.get("platform", {}),
                               **_evidence_json(evidence.load_evidence(client, repo, m["digest"], trusted),
                                                evidence.Descriptor(m["mediaType"], m["digest"], m["size"]))}
                              for m in entries]
        parts = document["images"]
    else:
        document.update(_evidence_json(evidence.load_evidence(client, repo, digest, trusted), subject))
        parts = [document]
    problems = [p for part in parts for p in part["problems"]]
    if format == "json":
        print(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    elif "images" in document:
        _print_index_evidence(repo, shown, document["images"])
    else:
        _print_evidence(Reference(repo.registry, repo.repository, reference.tag, digest), document)
    if problems:
        raise TargetFailed(f"{len(problems)} evidence artifact(s) of {shown} could not be read; see the warnings")


def _evidence_json(found, subject) -> dict:
    """One image's evidence as `invoke evidence --format json` shows it; every string redacted again."""
    from .secrets import redact

    def shown(record: dict) -> dict:
        return {k: redact(v) if isinstance(v, str) else v for k, v in record.items()}

    artifacts = [{**a.descriptor, "records": None if a.records is None else len(a.records), "problem": a.problem,
                  "held": len(a.held), "signer": a.signer, "keyid": a.keyid, "reason": a.reason}
                 for a in found.artifacts]
    not_counted = [{"artifact": n.artifact, "reason": redact(n.reason), "records": [shown(r) for r in n.records]}
                   for n in found.not_counted]
    return {"subject": subject.to_json(), "via": found.via, "artifacts": artifacts,
            "records": [shown(r) for r in found.records], "not_counted": not_counted,
            "problems": [redact(p) for p in found.problems]}


def _print_evidence(reference, part: dict) -> None:
    """One image's records as aligned columns, counted and not counted side by side (the last column says
    which, and why not), then a summary line (or that nothing is verified)."""
    import sys

    for problem in part["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    records = part["records"]
    refused = [(record, entry["reason"]) for entry in part.get("not_counted", []) for record in entry["records"]]
    if not records and not refused:
        print(f"no evidence for {reference}: nothing verified yet")
        return
    rows = [[title for title, _ in EVIDENCE_COLUMNS] + ["counted"]]
    rows += [[str(r.get(key) or "-") for _, key in EVIDENCE_COLUMNS] + ["yes"] for r in records]
    rows += [[str(r.get(key) or "-") for _, key in EVIDENCE_COLUMNS] + [f"no: {why}"] for r, why in refused]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"evidence for {reference} ({len(part['artifacts'])} artifact(s), found through the {part['via']})")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    print(f"{len(records)} record{'s' if len(records) != 1 else ''} counted: {summary}"
          + (f"; {len(refused)} not counted" if refused else ""))
    if not records:
        print(f"nothing verified for {reference}: no record counts")


def _print_index_evidence(repo, shown, images: list[dict]) -> None:
    from .registry import Reference

    print(f"{shown} is an index with {len(images)} Windows image(s)")
    for image in images:
        digest = image["subject"]["digest"]
        print(f"\n== windows/{image['platform'].get('architecture', '?')} "
              f"{image['platform'].get('os.version', '(no os.version)')} {digest} ==")
        _print_evidence(Reference(repo.registry, repo.repository, None, digest), image)
    verified = sum(1 for image in images if image["records"])
    total = sum(len(image["records"]) for image in images)
    print(f"\n{total} record{'s' if total != 1 else ''} for {verified} of {len(images)} Windows image(s)")
