"""Invoke tasks: parse options, call ``builder``, print. No logic lives here.

Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for their flags.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import invoke
from invoke import Collection, Exit

from builder import compat, report, targets
from builder import matrix as matrix_mod
from builder import plan as plan_mod
from builder import render as render_mod
from builder.errors import EXIT_TARGET_FAILED, BuilderError, InputError, TargetFailed
from builder.secrets import redact

# Long flags only: with this many options invoke's automatic one-letter flags collide between tasks
# (-t for --to in one task and --network in another) and -h would shadow --help.
task = functools.partial(invoke.task, auto_shortflags=False)

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
            raise Exit(f"error: {redact(str(exc))}", code=exc.exit_code) from None
        except Exit:
            raise
        except Exception as exc:  # a bug or an answer nobody planned for: still one line, no traceback
            if os.environ.get("ARGOEXEC_BUILDER_DEBUG"):
                raise
            raise Exit(f"error: unexpected {exc.__class__.__name__}: {redact(str(exc))[:300]}; run again with "
                       "ARGOEXEC_BUILDER_DEBUG=1 for a traceback and report it", code=EXIT_TARGET_FAILED) from None

    return run


def _build(value: str, flag: str) -> compat.WindowsBuild:
    try:
        return compat.WindowsBuild.parse(value)
    except ValueError as exc:
        raise InputError(f"{flag} {value}: {exc}") from None


def _select(matrix, base, argo, only, skip, default_bases=targets.ALL):
    loaded = matrix_mod.load_matrix(matrix)
    return loaded, targets.select(loaded, base, argo, only, skip, default_bases)


ENGINE_HELP = {
    "engine": "Docker engine URL (unix://, tcp://, ssh://, npipe://); default: DOCKER_HOST, else the local one. "
              "TLS for tcp:// from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH.",
    "repo": "Local image repository to tag images in (default: registries.image of the matrix).",
    "results": "Folder for the JSON result records (default: results).",
    "runner": "Runner name written into result records (default: local; CI passes its matrix runner).",
    "network": "Network mode for build and smoke containers, e.g. none (default: the engine's).",
    "host_isolation": "Isolation modes this host offers (repeatable; default: process and hyperv).",
}


def _engine_options(loaded, repo, results, runner, network, host_isolation, **extra):
    from builder.build import BuildOptions

    _, offered = _host(None, host_isolation)
    for flag, path in (("--argoexec-exe", extra.get("argoexec_exe")), ("--sevenzip-exe", extra.get("sevenzip_exe"))):
        if path is not None and not path.is_file():
            raise InputError(f"{flag} {path}: no such file")
    if repo and not matrix_mod.REPO_RE.match(repo):
        raise InputError(f"--repo {repo}: not a repository name (lowercase, e.g. argoexec-builder/argoexec)")
    return BuildOptions(repo=repo or loaded.registries.image, results_dir=Path(results or "results"),
                        runner=runner or "local", network_mode=network or None, host_isolation=offered, **extra)


def _finish(progress, heading, statuses):
    progress.print_summary(heading)
    failed = [s for s in statuses if s not in ("pass", "not-runnable")]
    if failed:
        raise TargetFailed(f"{len(failed)} of {len(statuses)} {heading.lower()} failed; see the records in results/")


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
def compat_(c, host=None, image=None, json=False):
    """Say whether an image build runs on a host build, with process and with Hyper-V isolation, and why."""
    if host is None or image is None:
        raise InputError("--host and --image are both required, e.g. --host 10.0.17763 --image 10.0.17763")
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
    if check and update:
        raise InputError("--check and --update exclude each other: --check compares, --update rewrites")
    if (check or update) and (base or argo or only or skip):
        raise InputError("--check and --update always cover the newest Argo version and every base; "
                         "drop --base/--argo/--only/--skip")
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
    try:
        paths = render_mod.write(rendered, Path(out))
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc}); pick a writable folder") from None
    for path in paths:
        print(path)


REGISTRY_HELP = {
    "mirror": "Read FROM through a mirror: FROM=TO, e.g. mcr.microsoft.com=reg.local:5000/mcr (repeatable; "
              "adds to mirrors in the matrix).",
    "insecure_registry": "A registry to reach over plain http (repeatable; loopback registries always are).",
}


def _with_mirrors(loaded, mirror):
    extra = {}
    for item in mirror or ():
        source, sep, target = item.partition("=")
        if not sep or not matrix_mod.MIRROR_FROM_RE.match(source) or not matrix_mod.REPO_RE.match(target):
            raise InputError(f"--mirror {item}: expected FROM=TO, e.g. mcr.microsoft.com=reg.local:5000/mcr")
        extra[source] = target
    return dataclasses.replace(loaded, mirrors={**loaded.mirrors, **extra}) if extra else loaded


def _registry_client(insecure_registry):
    from builder.registry import RegistryClient, env_insecure

    return RegistryClient(insecure=tuple(insecure_registry or ()) + env_insecure())


@task(
    help={**SELECT_HELP, **ENGINE_HELP, **REGISTRY_HELP,
          "builder": "How to build: auto (the default: docker where the engine's Windows host can build the base, "
                     "else oci), docker, or oci (daemonless assembly from registries, on any machine).",
          "to": "oci builder: push to REGISTRY/REPO (or a destination name of the matrix) as <target-id> tags.",
          "out": "oci builder without --to: the OCI image layout to write (default: dist/oci).",
          "argoexec_exe": "Prebuilt argoexec binary (argoexec.exe for Windows) instead of building from source "
                          "(docker) or taking upstream's (oci).",
          "sevenzip_exe": "7za.exe for Windows images built from a prebuilt binary (default: beside --argoexec-exe).",
          "argo_git": "Git URL of the Argo Workflows source (default: upstream on GitHub)."},
    iterable=SELECT_ITERABLES + ["host_isolation", "mirror", "insecure_registry"],
)
@reports_errors
def build(c, matrix=None, base=None, argo=None, only=None, skip=None, builder="auto", engine=None, repo=None,
          results=None, runner=None, network=None, host_isolation=None, argoexec_exe=None, sevenzip_exe=None,
          argo_git=None, to=None, out=None, mirror=None, insecure_registry=None):
    """Build the selected argoexec images: on a Docker engine, or assembled without one (oci)."""
    from builder import assemble as assemble_mod
    from builder import build as build_mod
    from builder import engine as engine_mod
    from builder import push as push_mod
    from builder import source as source_mod
    from builder.errors import Unreachable
    from builder.progress import Progress
    from builder.registry import Reference

    loaded, selected = _select(matrix, base, argo, only, skip, default_bases=None)
    loaded = _with_mirrors(loaded, mirror)
    options = _engine_options(loaded, repo, results, runner, network, host_isolation,
                              argoexec_exe=Path(argoexec_exe) if argoexec_exe else None,
                              sevenzip_exe=Path(sevenzip_exe) if sevenzip_exe else None,
                              argo_git=argo_git or source_mod.ARGO_GIT)
    if builder not in build_mod.BUILDERS:
        raise InputError(f"--builder {builder}: expected one of: {', '.join(build_mod.BUILDERS)}")
    progress = Progress()
    connected = None
    if builder != build_mod.OCI:
        try:
            connected = engine_mod.connect(engine)
            progress.console.print(f"engine: {connected.describe()}", markup=False)
        except Unreachable as exc:
            if builder == build_mod.DOCKER or engine:
                raise  # an engine named with --engine must answer; only the default one may be absent
            progress.console.print(f"no Docker engine ({exc}); assembling with the oci builder", markup=False)
    statuses = []
    try:
        docker_targets, oci_targets = build_mod.choose_builders(loaded, selected, connected, builder,
                                                                options.host_isolation)
        if docker_targets and to:
            raise InputError("--to is for the oci builder; the docker builder tags locally: push with "
                             "`invoke push --to`")
        if docker_targets:
            for outcome in build_mod.build_targets(connected, loaded, docker_targets, options, progress):
                statuses.append(outcome.record.status)
                if outcome.ok:
                    print(f"built {outcome.image} {outcome.record.image_digest}")
    finally:
        if connected is not None:
            connected.close()
    if oci_targets:
        destination = Reference.parse(push_mod.destination(loaded, to)) if to else None
        oci_options = assemble_mod.OciOptions(to=destination, out=Path(out or assemble_mod.DEFAULT_LAYOUT),
                                              argoexec_exe=options.argoexec_exe, sevenzip_exe=options.sevenzip_exe,
                                              results_dir=options.results_dir, runner=options.runner)
        client = _registry_client(insecure_registry)
        for outcome in assemble_mod.build_oci(loaded, oci_targets, client, oci_options, progress):
            statuses.append(outcome.record.status)
            if outcome.ok:
                print(f"assembled {outcome.reference}@{outcome.digest}")
    _finish(progress, "Builds", statuses)


@task(
    help={**SELECT_HELP, **ENGINE_HELP, "timeout": "Seconds each check may take (default: 120)."},
    iterable=SELECT_ITERABLES + ["host_isolation"],
)
@reports_errors
def smoke(c, matrix=None, base=None, argo=None, only=None, skip=None, engine=None, repo=None, results=None,
          runner=None, network=None, host_isolation=None, timeout="120"):
    """Smoke-test built images: `argoexec version` and hello-windows, each recorded in results/."""
    from builder import engine as engine_mod
    from builder import smoke as smoke_mod
    from builder.progress import Progress

    try:
        seconds = float(timeout)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise InputError(f"--timeout {timeout}: expected a number of seconds above 0")
    loaded, selected = _select(matrix, base, argo, only, skip, default_bases=None)
    options = _engine_options(loaded, repo, results, runner, network, host_isolation)
    connected = engine_mod.connect(engine)
    try:
        progress = Progress()
        progress.console.print(f"engine: {connected.describe()}", markup=False)
        records = smoke_mod.smoke_targets(connected, loaded, selected, options, progress, seconds)
    finally:
        connected.close()
    _finish(progress, "Checks", [r.status for r in records])


@task(
    help={**SELECT_HELP, "engine": ENGINE_HELP["engine"], "repo": ENGINE_HELP["repo"],
          "to": "Where to push: REGISTRY/REPO, or a destination name from the matrix."},
    iterable=SELECT_ITERABLES,
)
@reports_errors
def push(c, to, matrix=None, base=None, argo=None, only=None, skip=None, engine=None, repo=None):
    """Push the built per-base tags (<argo>-windows-<base>) to a registry; print their digests."""
    from builder import engine as engine_mod
    from builder import push as push_mod
    from builder.progress import Progress

    loaded, selected = _select(matrix, base, argo, only, skip, default_bases=None)
    destination = push_mod.destination(loaded, to)
    connected = engine_mod.connect(engine)
    try:
        progress = Progress()
        pushed = push_mod.push_targets(connected, loaded, selected, destination, repo or loaded.registries.image,
                                       progress)
    finally:
        connected.close()
    for item in pushed:
        print(f"{item.reference}@{item.digest}")


STORE_HELP = {
    "db": "The results database (default: results/results.sqlite).",
}


def _import(db, dirs):
    from builder import store

    connection = store.connect(Path(db) if db else store.DEFAULT_DB)
    report = store.import_paths(connection, [Path(d) for d in dirs])
    for problem in report.problems:
        print(f"skipped: {problem}")
    print(f"imported {report.imported} record{'s' if report.imported != 1 else ''} ({report.duplicates} already "
          f"known, {len(report.problems)} skipped)")
    if report.imported + report.duplicates + len(report.problems) == 0:
        print(f"warning: no *.json records under {', '.join(map(str, dirs))}")
    return connection, report


@task(
    help={"matrix": SELECT_HELP["matrix"], **REGISTRY_HELP, **STORE_HELP,
          "to": "Also publish index tags: the repository (REGISTRY/REPO or a destination name) holding the "
                "per-base tags. Without it no registry is touched.",
          "argo": "Argo version whose index tag to publish (repeatable; default: the newest in the matrix).",
          "no_linux": "Leave out the linux/amd64 and linux/arm64 entries of upstream's argoexec:<argo>.",
          "results": "Folder of result records to import first (repeatable).",
          "docs": "Folder for compatibility.md, compatibility.json and index.html (default: docs).",
          "readme": "README whose compatibility section to update (default: README.md; '' for none)."},
    iterable=["argo", "mirror", "insecure_registry", "results"],
)
@reports_errors
def publish(c, to=None, argo=None, matrix=None, no_linux=False, mirror=None, insecure_registry=None, results=None,
            db=None, docs="docs", readme="README.md"):
    """Import results, regenerate the compatibility table (Markdown, JSON, HTML); with --to, publish index tags."""
    from builder import publish as publish_mod
    from builder import push as push_mod
    from builder import store, table_formats
    from builder import table as table_mod
    from builder.progress import Progress
    from builder.registry import Reference

    loaded = _with_mirrors(matrix_mod.load_matrix(matrix), mirror)
    versions = targets.select(loaded, "all", argo)
    # Every input is checked before anything is written.
    repo = Reference.parse(push_mod.destination(loaded, to)) if to else None
    readme_path = Path(readme) if readme else None
    table_formats.check_readme(readme_path)
    report = None
    if results:
        connection, report = _import(db, results)
    else:
        connection = store.connect(Path(db) if db else store.DEFAULT_DB)
    model = table_mod.build_table(loaded, store.all_records(connection))
    try:
        written = table_formats.write_outputs(model, Path(docs), readme_path)
    except OSError as exc:
        raise InputError(f"--docs {docs}: cannot write there ({exc.strerror or exc})") from None
    for path in written:
        print(f"wrote {path}")
    if repo is not None:
        client = _registry_client(insecure_registry)
        progress = Progress()
        for tag in dict.fromkeys(t.argo.tag for t in versions):
            published = publish_mod.publish_index(client, loaded, repo, tag, progress, with_linux=not no_linux)
            state = "written" if published.changed else "unchanged"
            print(f"{published.reference}@{published.digest} ({len(published.entries)} entries, {state})")
    if report is not None and report.problems:
        raise TargetFailed(f"{len(report.problems)} result record(s) were malformed and skipped; see above")


@task(
    help={"matrix": SELECT_HELP["matrix"], **STORE_HELP,
          "argo": "Only these Argo versions (repeatable; default: all in the matrix).",
          "host": "Answer for one host release (e.g. 2025, 2019, win11): which image to use on it, and how.",
          "format": "text (default), markdown, json or html."},
    iterable=["argo"],
)
@reports_errors
def table(c, matrix=None, db=None, argo=None, host=None, format="text"):
    """Show the compatibility table: which image runs on which Windows node, how, and how we know."""
    from builder import store, table_formats
    from builder import table as table_mod

    if format not in ("text", "markdown", "json", "html"):
        raise InputError(f"--format {format}: expected text, markdown, json or html")
    loaded = matrix_mod.load_matrix(matrix)
    wanted = [t.argo.tag for t in targets.select(loaded, "all", argo or "all")]
    connection = store.open_for_reading(Path(db) if db else None)
    model = table_formats._filter(table_mod.build_table(loaded, store.all_records(connection)), wanted)
    if host:
        release = loaded.host(host)
        if release is None:
            raise InputError(f"--host {host}: unknown host release; known: "
                             f"{', '.join(h.name for h in loaded.hosts)}")
        advice = table_mod.advise(model, release)
        if format == "json":
            print(table_formats.advice_json(release, advice), end="")
        elif format == "text":
            print(table_formats.advice_text(release.label, release.build.base, advice))
        else:
            raise InputError(f"--host answers in text or json, not {format}")
        return
    if format == "text":
        table_formats.to_text(model, report.console())
    else:
        text = {"markdown": table_formats.to_markdown, "json": table_formats.to_json,
                "html": table_formats.to_html}[format](model)
        print(text, end="")


@task(help={**SELECT_HELP}, iterable=SELECT_ITERABLES)
@reports_errors
def ci_matrix(c, matrix=None, base=None, argo=None, only=None, skip=None):
    """Print the nightly CI matrix (JSON): per runner what it builds and smoke-tests, and the oci job."""
    from builder import ci

    loaded, selected = _select(matrix, base, argo, only, skip)
    print(json.dumps(ci.ci_matrix(loaded, selected), separators=(",", ":")))


results_ns = Collection("results")


@task(name="import", help={**STORE_HELP, "dir": "Folder (or file) of result records (repeatable)."},
      iterable=["dir"])
@reports_errors
def import_results(c, dir=None, db=None):
    """Import result records (JSON files) into the results database; importing twice keeps one of each."""
    if not dir:
        raise InputError("--dir is required: a folder of result records (repeatable)")
    _, report = _import(db, dir)
    if report.problems:
        raise TargetFailed(f"{len(report.problems)} result record(s) were malformed and skipped; see above")


results_ns.add_task(import_results)


ns = Collection(plan, render, build, smoke, push, publish, table, ci_matrix, results_ns)
ns.add_task(compat_, name="compat")
