"""The pipeline: one function per task, from the flags as given to the printed result.

tasks.py only declares the flags and calls these. Each function has the flags read and checked once
(``options``: bad input is an ``InputError`` naming the flag, before anything is touched), asks the
planner once, hands the plan to the step that does the work, and prints. What a step does lives in its
own module (render, builders, smoke, engine_push, publish, which, evidence_view); this module decides
only which of them run, with what, and in which order.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from . import builders, checks, compat, inputs, options, plan, report, targets
from . import matrix as matrix_mod
from . import render as render_mod
from .errors import InputError, TargetFailed, Unreachable
from .matrix import Matrix
from .network import OFFLINE_RE, network_needs, with_next_step
from .options import ClusterFlags, EngineFlags, Flag, Selection
from .progress import Progress
from .secrets import has_userinfo, hide_userinfo
from .verified import unverified


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
    host, offered = options.host_flags(host_build, host_isolation)
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
    host, offered = options.host_flags(host_build, host_isolation)
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


def _connect(url: str | None, progress: Progress):
    from . import engine as engine_mod

    connected = engine_mod.connect(url)
    progress.console.print(f"engine: {connected.describe()}", markup=False)
    return connected


def build_task(selection: Selection, flags: EngineFlags, builder: str = plan.BUILDER_AUTO,
               argoexec_exe: str | None = None, sevenzip_exe: str | None = None, argo_git: str | None = None,
               to: str | None = None, out: str | None = None, mirror: Flag = None, insecure_registry: Flag = None,
               binary: str = "auto", go: str = "auto", dist: str | None = None,
               compiled: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    """Plan the run once on the engine's host (if any), make each Argo version's binary once, then hand
    each builder its targets. ``dry_run``: say what would be built (and, with --to, skipped), touch nothing."""
    run = options.build_run(selection, flags, builder, argoexec_exe, sevenzip_exe, argo_git, to, out, mirror,
                            insecure_registry, binary, go, dist, compiled, force, dry_run)
    progress = Progress()
    connected = _engine_for(run, progress)
    plans: list[plan.PlannedTarget] = []
    try:
        plans = _plan_build(run, connected)
        client = options.registry_client(run.insecure_registry)  # one for the run, its tokens serving every step
        made = dataclasses.replace(run.options, binaries=_binaries(run, plans, client, progress))
        statuses = _run_builders(run, made, connected, client, plans, progress)
    except Unreachable as exc:
        raise _offline(exc, run, plans) from None
    finally:
        if connected is not None:
            connected.close()
    if run.dry_run:
        needs = network_needs(run, plans)
        print("network this build would use:" + "".join(f"\n  - {need}" for need in needs) if needs
              else "network this build would use: none")
        print("dry run: nothing was built, pushed or written")
        return
    finish(progress, "Builds", statuses)


def _engine_for(run: options.BuildRun, progress: Progress):
    """The engine of a build run: none for --builder oci; the default one may be absent (auto assembles
    then), an engine named with --engine (or --builder docker's) must answer."""
    if run.builder == plan.BUILDER_OCI:
        return None
    try:
        return _connect(run.engine, progress)
    except Unreachable as exc:
        if run.builder == plan.BUILDER_DOCKER or run.engine:
            raise
        progress.say(f"no Docker engine ({exc}); assembling with the oci builder")  # one line, however long
        return None


def _plan_build(run: options.BuildRun, connected) -> list[plan.PlannedTarget]:
    """The run's plan on the engine's host (or none), and what it asks of the binaries checked."""
    from . import binaries
    from .engine import redact_url

    plans = plan.plan_build(run.matrix, run.selected, connected.facts if connected else None, run.builder,
                            run.offered, redact_url(connected.url) if connected else "the engine")
    linux = [p.target.id for p in plans if not p.target.is_windows]
    if linux:
        if run.options.argoexec_exe is None:
            raise InputError(f"{', '.join(linux)}: Linux targets build from a prebuilt binary; pass "
                             "--argoexec-exe PATH")
        binaries.prebuilt(run.options.argoexec_exe, windows=False)  # the right kind of program, or exit 2
    oci = [p.target.id for p in plans if p.builder == plan.BUILDER_OCI]
    if run.options.binary == binaries.WINDOWS_SOURCE and oci:
        raise InputError("--binary windows-source compiles inside servercore, and "
                         f"{', '.join(oci)} cannot be built on this engine; build those with --binary compiled")
    return plans


def _binaries(run: options.BuildRun, plans: list[plan.PlannedTarget], client, progress: Progress) -> dict:
    """The argoexec.exe of each Argo version's Windows images, each made once (a dry run reads a binary that
    exists, --argoexec-exe or --compiled, but makes none), checked against the lock's commit."""
    from . import binaries

    windows_tags = [p.target.argo.tag for p in plans if p.target.is_windows]
    made: dict = {}
    if run.dry_run and run.made_here and windows_tags:
        way = {binaries.COMPILED: "compiled (`invoke compile`)", binaries.UPSTREAM: "read from upstream's image",
               binaries.AUTO: "compiled (`invoke compile`), or read from upstream's image if no Go here can "
                              "compile it"}[run.options.binary]
        for tag in dict.fromkeys(windows_tags):
            progress.say(f"{tag}: argoexec.exe would be {way}")
    else:
        made = binaries.for_windows_targets(
            windows_tags, run.options.binary, matrix=run.matrix, argoexec_exe=run.options.argoexec_exe,
            sevenzip_exe=run.sevenzip, go=run.go, argo_git=run.options.argo_git, output=run.dist,
            client_factory=lambda: client, say=progress.say, compiled_dir=run.compiled)
    for tag, binary in made.items():
        progress.say(f"{tag}: {binary.summary}")
        locked_commit(run.matrix, tag, binary.commit)
    return made


def _run_builders(run: options.BuildRun, made, connected, client, plans: list[plan.PlannedTarget],
                  progress: Progress) -> list[str]:
    """Each builder its share of the plan, in plan order; with --to, a target whose image there was made from
    the same inputs is not built again. The statuses of the records."""
    statuses = []
    for builder in builders.make_builders(run.matrix, connected, made, client, plans, progress):
        share = [p for p in plans if p.builder == builder.name]
        if made.to is not None and not run.dry_run:
            share = inputs.split(share, builder.inputs, client, made.to, made.force, progress,
                                 content_of=builder.content)
        for outcome in builder.build(share, progress, dry_run=run.dry_run):
            statuses.append(outcome.record.status)
            if outcome.ok:
                print(builder.done.format(image=outcome.image, digest=outcome.digest))
    return statuses


def _offline(exc: Unreachable, run: options.BuildRun, plans: list[plan.PlannedTarget]) -> Unreachable:
    """Offline (a connection that could not be made, not a registry answering an error): one try tells the build
    everything it needs from the network, not only the first thing it missed."""
    text = str(exc)
    to = run.options.to
    destination_failed = to is not None and f"registry {to.registry}:" in text
    needs = network_needs(run, plans) if plans and OFFLINE_RE.search(text) and not destination_failed else []
    failed = with_next_step(exc, run.matrix)
    if needs:
        failed = Unreachable(f"{failed}. This build needs from the network: {'; '.join(needs)}")
    return failed


def compile_task(argo: str | None, go: str = "auto", source: str | None = None, argo_git: str | None = None,
                 out: str | None = None, engine: str | None = None, matrix: str | None = None) -> None:
    """argoexec.exe for one Argo version, cross-compiled on Linux: ``dist/bin/<argo>/windows-amd64/``."""
    from .compile import compile_argoexec
    from .source import ARGO_GIT

    if source is not None and not Path(source).is_dir():
        raise InputError(f"--source {source}: no such folder; give a local Argo Workflows tree")
    loaded = None
    if source is None:
        loaded = matrix_mod.load_matrix(matrix)  # once: the tag to compile and, after, the commit it pins
        (target, *_) = targets.select(loaded, "all", argo)
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
    if loaded is not None:
        locked_commit(loaded, tag, made.commit)


def locked_commit(loaded: Matrix, tag: str, commit: str | None) -> None:
    """A binary compiled from another commit than the lock pins for its tag (the tag moved upstream since
    the refresh) is refused: the run builds what the lock says, or nothing."""
    pinned = next((a.commit for a in loaded.argo if a.tag == tag), None)
    if pinned and commit and commit != pinned:
        raise InputError(f"{tag}: {loaded.lock.file} pins commit {pinned[:12]}, but argoexec.exe was compiled from "
                         f"{commit[:12]} (the tag moved since the refresh?); run `invoke refresh`, then compile again")


def smoke_task(selection: Selection, flags: EngineFlags, timeout: str = "120", skip_verified: bool = False,
               insecure_registry: Flag = None) -> None:
    """The smoke checks of each selected target on an engine (with --skip-verified: those not verified there)."""
    from .engine import redact_url
    from .smoke import smoke_targets

    run = options.smoke_run(selection, flags, timeout, skip_verified, insecure_registry)
    progress = Progress()
    connected = _connect(run.engine, progress)
    try:
        plans = plan.plan_smoke(run.matrix, run.selected, connected.facts, run.offered, redact_url(connected.url))
        if run.skip_verified:
            plans = unverified(plans, options.registry_client(run.insecure_registry), run.repo, run.options.runner,
                               connected.facts, progress, options.trusted_keys(run.matrix))
        records = smoke_targets(connected, plans, run.options, progress)
    finally:
        connected.close()
    finish(progress, "Checks", [r.status for r in records])


def cluster_smoke_task(selection: Selection, flags: EngineFlags, timeout: str | None, cluster: ClusterFlags,
                       skip_verified: bool = False, insecure_registry: Flag = None) -> None:
    """The cluster check of each selected target's published per-base image, pinned by digest: from ``--repo``,
    else the matrix's publish repository (a target not published there is refused before anything is submitted)."""
    from .cluster import cluster_smoke

    run = options.cluster_run(selection, flags, timeout, cluster, skip_verified, insecure_registry)
    plans = plan.make_plan(run.matrix, run.selected)
    client = options.registry_client(run.insecure_registry)
    executors: dict[str, tuple[str, str]] = {}
    for planned in plans:
        if planned.target.is_windows:
            tagged = run.repo.with_tag(planned.target.id)
            digest = client.head_manifest(tagged)
            if digest is None:
                raise InputError(f"{tagged}: not published; push it first (invoke build --to {run.repo}) or pass "
                                 "--repo where it is")
            executors[planned.target.id] = (str(tagged), digest)
    progress = Progress()
    records = cluster_smoke(plans, url=cluster.url, token_env=cluster.token_env, insecure=cluster.insecure,
                            namespace=cluster.namespace, hybrid=cluster.hybrid, timeout_s=run.timeout_s,
                            runner=run.runner, results_dir=run.results_dir, progress=progress, executors=executors)
    finish(progress, "Checks", [r.status for r in records])


def push_task(selection: Selection, to: str, engine: str | None = None, repo: str | None = None,
              dry_run: bool = False) -> None:
    from .engine_push import push_targets

    loaded, selected = selection.resolve(default_bases=None)
    where = options.destination(loaded, to)
    progress = Progress()
    connected = _connect(engine, progress)
    try:
        pushed = push_targets(connected, selected, where, options.local_repo(loaded, repo), progress, dry_run)
    finally:
        connected.close()
    for item in pushed:
        print(f"{item.reference}@{item.digest}")
    if dry_run:
        print("dry run: nothing was tagged or pushed")


def import_task(dirs: Flag, db: str | None) -> None:
    from .publish import import_results, malformed

    if not dirs:
        raise InputError("--dir is required: a folder of result records (repeatable)")
    _, imported = import_results(db, [dirs] if isinstance(dirs, str) else dirs)
    malformed(imported.problems)


def publish_task(to: str | None = None, argo: Flag = None, matrix: str | None = None, no_linux: bool = False,
                 mirror: Flag = None, insecure_registry: Flag = None, results: Flag = None, db: str | None = None,
                 docs: str = "docs", readme: str = "README.md", partial: bool = False, dry_run: bool = False) -> None:
    """With ``to``: the index tags first (the per-base digests they find say which records count), then the
    table (Markdown, JSON, HTML, README section) from every record of the published digests. ``dry_run``:
    the same reads and decisions, said as what would be written; nothing is written anywhere (builder/publish.py)."""
    from .publish import publish

    publish(options.publish_run(to, argo, matrix, no_linux, mirror, insecure_registry, results, db, docs, readme,
                                partial, dry_run))


def table_task(matrix: str | None = None, db: str | None = None, argo: Flag = None, host: str | None = None,
               format: str = "text", offline: bool = False, insecure_registry: Flag = None) -> None:
    """The compatibility table (builder/which.py); with --host, which_task's answer for that node."""
    from .which import TABLE_FORMATS, WHICH_FORMATS, table

    if format not in TABLE_FORMATS:
        raise InputError(f"--format {format}: expected {', '.join(TABLE_FORMATS[:-1])} or {TABLE_FORMATS[-1]}")
    if host:
        if format not in WHICH_FORMATS[:2]:
            raise InputError(f"--host answers in text or json, not {format}")
        which_task(host, argo, format, matrix, db, flag="--host", offline=offline,
                   insecure_registry=insecure_registry)
        return
    table(matrix, db, argo, format)


def which_task(node: str | None, argo: Flag = None, format: str = "text", matrix: str | None = None,
               db: str | None = None, flag: str = "--node", offline: bool = False,
               insecure_registry: Flag = None, verbose: bool = False) -> None:
    """``invoke which``: for a node (a build, a release name or its node.kubernetes.io/windows-build label), per
    Argo version the image to use, how, how sure, and the entry of the one tag Docker Engine and containerd take
    (builder/which.py)."""
    from .table import LABEL
    from .which import WHICH_FORMATS, answer

    if format not in WHICH_FORMATS:
        raise InputError(f"--format {format}: expected text, json or helm")
    if not node:
        raise InputError(f"{flag} is required: a build (10.0.17763), a release (2019, ltsc2022) or the value of a "
                         f"node's {LABEL} label")
    answer(node, argo, format, matrix, db, flag, offline, insecure_registry, verbose)


def refresh_task(matrix: str | None = None, check: bool = False, mirror: Flag = None,
                 insecure_registry: Flag = None) -> None:
    """matrix.lock.json: the bases' digests and the Argo releases, resolved now (see builder/refresh.py)."""
    from .refresh import refresh

    loaded = options.with_mirrors(matrix_mod.load_matrix(matrix, lock=False), mirror)
    refresh(loaded, Path(matrix) if matrix else matrix_mod.DEFAULT_MATRIX, options.registry_client(insecure_registry),
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
        doctor.print_results(results, as_json)
        raise
    try:
        results = doctor.run_checks(connected, loaded, selected, minimum, os.environ)
    finally:
        connected.close()
    doctor.print_results(results, as_json)
    failures = doctor.failed(results)
    if failures:
        raise TargetFailed(f"{len(failures)} of {len(results)} checks failed: "
                           f"{', '.join(r.check for r in failures)}")


def evidence_task(ref: str | None, format: str = "text", insecure_registry: Flag = None,
                  matrix: str | None = None) -> None:
    """What was verified for exactly the image REF names (builder/evidence_view.py): the evidence artifacts
    attached to it in its registry, the records that count (signed by a key of the matrix's
    ``evidence.trusted_keys``) beside those that do not, each with its reason."""
    from . import evidence_view
    from .registry import Reference

    if format not in evidence_view.FORMATS:
        raise InputError(f"--format {format}: expected {' or '.join(evidence_view.FORMATS)}")
    if not ref:
        raise InputError("REF is required: REGISTRY/REPO:TAG, REGISTRY/REPO@sha256:... or both")
    if has_userinfo(ref):  # refused without showing the password
        raise InputError(f"{hide_userinfo(ref)}: give the reference without user:password@; credentials come "
                         "from the Docker config (docker login)")
    reference = Reference.parse(ref, strict=True, what="REF")
    trusted = options.trusted_keys(matrix_mod.load_matrix(matrix))
    evidence_view.show(options.registry_client(insecure_registry), reference, trusted, format)
