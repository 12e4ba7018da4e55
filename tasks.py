"""Invoke tasks: declare the flags and call ``builder.pipeline``, one function per task. No logic lives here.

Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for their flags.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading

import invoke
from invoke import Collection, Exit

# The project's own dependencies (pyproject.toml's, each by the modules it installs; tests/test_tasks_imports.py
# keeps the two lists the same). An `invoke` of another environment (a system one, another project's venv) loads
# this file too: it is told in one line which `invoke` to run and what could not be imported, instead of a
# traceback from the first task that needs the module.
DEPENDENCY_MODULES = {
    "docker[ssh]": ("docker", "paramiko"),  # the ssh extra: paramiko, for ssh:// engines
    "jinja2": ("jinja2",),
    "invoke": ("invoke",),
    "requests": ("requests",),
    "packaging": ("packaging",),
    "pyyaml": ("yaml",),
    "rich": ("rich",),
    "markupsafe": ("markupsafe",),
    "securesystemslib": ("securesystemslib",),
    "cryptography": ("cryptography",),
}
PROJECT_MODULES = ("builder", *(module for modules in DEPENDENCY_MODULES.values() for module in modules))
EXIT_WRONG_ENVIRONMENT = 2  # builder.errors.EXIT_BAD_INPUT, which cannot be imported when this applies


def _project_imports() -> None:
    import importlib.util
    from pathlib import Path

    here = Path(__file__).resolve().parent
    missing = None
    for name in PROJECT_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                missing = f"No module named {name!r}"
        except (ImportError, ValueError) as exc:
            missing = str(exc) or f"No module named {name!r}"
        if missing:
            break
    if missing is None:
        try:
            import builder.pipeline  # noqa: F401 - the project itself imports
            return
        except ImportError as exc:
            missing = str(exc)
    venv = here / ".venv" / "bin" / "invoke"
    run = (f"run {os.path.relpath(venv)}" if venv.exists() else
           "set up first: python3 -m venv .venv && .venv/bin/pip install -e . , then run .venv/bin/invoke")
    sys.stderr.write(f"error: this invoke ({sys.executable}) cannot import the project ({missing}); {run}\n")
    sys.exit(EXIT_WRONG_ENVIRONMENT)


_project_imports()

from builder import pipeline  # noqa: E402 - after the check above
from builder.errors import (  # noqa: E402
    EXIT_INTERRUPTED,
    EXIT_TARGET_FAILED,
    EXIT_TERMINATED,
    BuilderError,
    Terminated,
)
from builder.options import ClusterFlags, EngineFlags, Selection  # noqa: E402
from builder.secrets import flag_secrets, redact  # noqa: E402

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

ENGINE_HELP = {
    "engine": "Docker engine URL (unix://, tcp://, ssh://, npipe://); default: DOCKER_HOST, else the local one. "
              "TLS for tcp:// from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH.",
    "repo": "Local image repository to tag images in (default: registries.image of the matrix).",
    "results": "Folder for the JSON result records (default: results).",
    "runner": "Runner name written into result records (default: local; CI passes its matrix runner).",
    "network": "Network mode for build and smoke containers, e.g. none (default: the engine's).",
    "host_isolation": "Isolation modes this host offers (repeatable; default: process and hyperv).",
}

REGISTRY_HELP = {
    "mirror": "Read FROM through a mirror: FROM=TO, e.g. mcr.microsoft.com=reg.local:5000/mcr (repeatable; "
              "adds to mirrors in the matrix).",
    "insecure_registry": "A registry to reach over plain http (repeatable; loopback registries always are).",
}

STORE_HELP = {
    "db": "The results database (default: results/results.sqlite).",
}


def _terminated(signum, frame):
    raise Terminated()


def reports_errors(body):
    """Turn the tool's errors into one line on stderr and their exit code (no traceback); SIGTERM ends the
    run as Ctrl-C does (cleaned up, one line), with exit 143."""

    @functools.wraps(body)
    def run(*args, **kwargs):
        # A password written into a flag value (`--to user:pass@host/repo`) is a secret too, for any message.
        extra = flag_secrets(kwargs.values())
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            return body(*args, **kwargs)
        except BuilderError as exc:
            if os.environ.get("ARGOEXEC_BUILDER_DEBUG"):
                raise
            raise Exit(f"error: {redact(str(exc), extra)}", code=exc.exit_code) from None
        except Exit:
            raise
        except KeyboardInterrupt:
            # Ctrl-C is the user's choice, not a failure to explain: one line, and the code a shell expects of
            # a process SIGINT stopped. The finally blocks on the way here have closed what the run opened.
            if os.environ.get("ARGOEXEC_BUILDER_DEBUG"):
                raise
            raise Exit("error: interrupted", code=EXIT_INTERRUPTED) from None
        except Terminated:
            if os.environ.get("ARGOEXEC_BUILDER_DEBUG"):
                raise
            raise Exit("error: terminated (SIGTERM); what the run was writing is removed", code=EXIT_TERMINATED) \
                from None
        except Exception as exc:  # a bug or an answer nobody planned for: still one line, no traceback
            if os.environ.get("ARGOEXEC_BUILDER_DEBUG"):
                raise
            raise Exit(f"error: unexpected {exc.__class__.__name__}: {redact(str(exc), extra)[:300]}; run again "
                       "with ARGOEXEC_BUILDER_DEBUG=1 for a traceback and report it", code=EXIT_TARGET_FAILED) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return run


@task(
    help={**SELECT_HELP,
          "json": "Print a JSON list of targets instead of a table (the same as --format json).",
          "format": "text (the default: a table, or one block per target when the terminal is narrower; "
                    "COLUMNS sets the width), json, markdown (a table and its notes) or github (the same for "
                    "$GITHUB_STEP_SUMMARY: a heading, counts, notes folded).",
          "host_build": "Plan for a Windows host of this build (10.0.B[.R]) instead of the CI runners.",
          "host_isolation": "Isolation modes that host offers (repeatable; default: process and hyperv)."},
    iterable=SELECT_ITERABLES + ["host_isolation"],
)
@reports_errors
def plan(c, matrix=None, base=None, argo=None, only=None, skip=None, json=False, host_build=None,
         host_isolation=None, format=None):
    """How and where each selected target is built and smoke-tested."""
    pipeline.plan_task(Selection(matrix, base, argo, only, skip), host_build, host_isolation, json, format)


@task(help={"host": "Host: a build 10.0.B[.R] (e.g. 10.0.17763), a release (2019, ltsc2022) or a node's "
                    "node.kubernetes.io/windows-build label value.",
            "image": "Image build (its os.version), 10.0.B[.R], or its release (1809, ltsc2022).",
            "json": 'Print {"process": bool, "hyperv": bool, "reason": str}.',
            "matrix": SELECT_HELP["matrix"] + " Its stable_abi releases set the compatibility window."})
@reports_errors
def compat_(c, host=None, image=None, json=False, matrix=None):
    """Whether an image build runs on a host build, with which isolation."""
    pipeline.compat_task(host, image, json, matrix)


@task(
    help={**SELECT_HELP,
          "out": "Folder to write <target-id>/Dockerfile.windows into (default: build).",
          "variant": "copy (the default: argoexec.exe comes with the build context, compiled on Linux; nothing "
                     "RUNs but the version check) or windows-source (upstream's way: compile inside servercore).",
          "with_7za": "copy variant: also COPY 7za.exe from the build context (it is optional).",
          "host_build": "Render for a Windows host of this build (decides whether `RUN argoexec version` can run).",
          "host_isolation": "Isolation modes that host offers (repeatable; default: process and hyperv).",
          "check": "Compare the committed dockerfiles/ (newest Argo, every base) with a fresh render; "
                   "exit 1 with a diff when they differ.",
          "update": "Rewrite the committed dockerfiles/ (newest Argo, every base) from the templates."},
    iterable=SELECT_ITERABLES + ["host_isolation"],
)
@reports_errors
def render(c, matrix=None, base=None, argo=None, only=None, skip=None, out="build", variant="copy",
           host_build=None, host_isolation=None, check=False, update=False, with_7za=False):
    """Render each selected target's Dockerfile.windows from the templates."""
    pipeline.render_task(Selection(matrix, base, argo, only, skip), out, variant, host_build, host_isolation,
                         check, update, with_7za)


@task(
    help={**SELECT_HELP, **ENGINE_HELP, **REGISTRY_HELP,
          "builder": "How to build: auto (the default: docker where the engine's Windows host can build the base, "
                     "else oci), docker, or oci (daemonless assembly from registries, on any machine).",
          "to": "Push to REGISTRY/REPO (or a destination name of the matrix) as <target-id> tags, each as soon as it "
                "is built; a target whose image there was made from the same inputs is skipped (see --force).",
          "force": "With --to: build and push every selected target, even those whose published image is up to date.",
          "dry_run": "Say what would be built (with --to: and what skipped as unchanged); build, push, compile and "
                     "write nothing.",
          "out": "oci builder without --to: the OCI image layout to write (default: dist/oci).",
          "binary": "argoexec.exe: auto (compiled, else upstream's when no Go can compile), compiled, upstream "
                    "or windows-source (docker builder only).",
          "go": "compiled: the Go to use: auto (the default), local (go on PATH) or docker (golang:<go.mod>).",
          "dist": "compiled: the folder under which dist/bin/<argo>/windows-amd64/argoexec.exe is written "
                  "(default: .).",
          "compiled": "compiled: take each Argo version's argoexec.exe from this folder of `invoke compile --out` "
                      "outputs instead of compiling here (CI compiles once on Linux).",
          "argoexec_exe": "A prebuilt argoexec binary (argoexec.exe for Windows; Linux targets need one) instead "
                          "of --binary.",
          "sevenzip_exe": "7za.exe to add to Windows images (optional; default: beside --argoexec-exe if there).",
          "argo_git": "Git URL of the Argo Workflows source (default: upstream on GitHub)."},
    iterable=SELECT_ITERABLES + ["host_isolation", "mirror", "insecure_registry"],
)
@reports_errors
def build(c, matrix=None, base=None, argo=None, only=None, skip=None, builder="auto", engine=None, repo=None,
          results=None, runner=None, network=None, host_isolation=None, argoexec_exe=None, sevenzip_exe=None,
          argo_git=None, to=None, out=None, mirror=None, insecure_registry=None, binary="auto", go="auto",
          dist=None, compiled=None, force=False, dry_run=False):
    """Build the selected images: on a Docker engine, or with oci (no engine)."""
    pipeline.build_task(Selection(matrix, base, argo, only, skip),
                        EngineFlags(engine, repo, results, runner, network, host_isolation), builder,
                        argoexec_exe, sevenzip_exe, argo_git, to, out, mirror, insecure_registry, binary, go, dist,
                        compiled, force, dry_run)


@task(help={"argo": "Argo version to compile (default: the newest in the matrix; with --source: the tag to stamp).",
            "go": "auto (the default: docker, else local; a local Go >= 1.21 runs go.mod's toolchain through "
                  "GOTOOLCHAIN), local (the go on PATH, if it satisfies go.mod) or docker (golang:<go.mod version> "
                  "on a Linux Docker engine).",
            "source": "A local Argo Workflows tree (a fork, a checkout) instead of the cached clone of the tag.",
            "argo_git": "Git URL of the Argo Workflows source (default: upstream on GitHub).",
            "out": "Folder under which dist/bin/<argo>/windows-amd64/ is written (default: .).",
            "engine": "--go docker: the Linux Docker engine URL (default: DOCKER_HOST, else the local one).",
            "matrix": SELECT_HELP["matrix"]})
@reports_errors
def compile(c, argo=None, go="auto", source=None, argo_git=None, out=None, engine=None, matrix=None):  # noqa: A001
    """Cross-compile argoexec.exe for one Argo version, on Linux; cached."""
    pipeline.compile_task(argo, go, source, argo_git, out, engine, matrix)


CLUSTER_HELP = {
    "cluster": "Run hello-windows as a workflow on an Argo cluster instead: the Argo Server's URL "
               "(https://HOST:2746); records check=workflow.",
    "token_env": "--cluster: NAME of the environment variable holding the Argo Server token (never the token); "
                 "without it no token is sent.",
    "insecure": "--cluster: do not verify the server's TLS certificate.",
    "namespace": "--cluster: namespace to submit to (default: argo).",
    "hybrid": "--cluster: upstream's hello-hybrid: the Windows step, then a Linux step.",
    "cluster_name": "--cluster: the runner name in its records (default: the server's host).",
}


@task(
    help={**SELECT_HELP, **ENGINE_HELP, **CLUSTER_HELP,
          "timeout": "Seconds each check may take (default: 120; with --cluster, 600 per workflow).",
          "skip_verified": "With --repo REGISTRY/REPO: skip an image whose evidence there already has every check "
                           "passed on this runner, host os.version and isolation, for the digest its tag has now.",
          "insecure_registry": REGISTRY_HELP["insecure_registry"]},
    iterable=SELECT_ITERABLES + ["host_isolation", "insecure_registry"],
)
@reports_errors
def smoke(c, matrix=None, base=None, argo=None, only=None, skip=None, engine=None, repo=None, results=None,
          runner=None, network=None, host_isolation=None, timeout=None, cluster=None, token_env=None,
          insecure=False, namespace="argo", hybrid=False, skip_verified=False, insecure_registry=None,
          cluster_name=None):
    """Smoke-test built images the way a pod runs them; record each check."""
    selection = Selection(matrix, base, argo, only, skip)
    flags = EngineFlags(engine, repo, results, runner, network, host_isolation)
    if cluster:
        pipeline.cluster_smoke_task(selection, flags, timeout, ClusterFlags(cluster, token_env, insecure, namespace,
                                                                            hybrid, cluster_name), skip_verified,
                                    insecure_registry)
    else:
        pipeline.smoke_task(selection, flags, timeout or "120", skip_verified, insecure_registry)


@task(
    help={**SELECT_HELP, "engine": ENGINE_HELP["engine"], "repo": ENGINE_HELP["repo"],
          "to": "Where to push: REGISTRY/REPO, or a destination name from the matrix.",
          "dry_run": "Check that each image is built and say what would be pushed; tag and push nothing."},
    iterable=SELECT_ITERABLES,
)
@reports_errors
def push(c, to, matrix=None, base=None, argo=None, only=None, skip=None, engine=None, repo=None, dry_run=False):
    """Push the built per-base tags to a registry; print their digests."""
    pipeline.push_task(Selection(matrix, base, argo, only, skip), to, engine, repo, dry_run)


@task(
    help={"matrix": SELECT_HELP["matrix"], **REGISTRY_HELP, **STORE_HELP,
          "to": "Also publish index tags: the repository (REGISTRY/REPO or a destination name) holding the "
                "per-base tags. Without it no registry is touched.",
          "argo": "Argo version whose index tag to publish (repeatable; default: the newest in the matrix).",
          "no_linux": "Leave out the linux/amd64 and linux/arm64 entries of upstream's argoexec:<argo>.",
          "results": "Folder of result records to import first (repeatable).",
          "docs": "Folder for compatibility.md, compatibility.json and index.html (default: docs).",
          "readme": "README whose compatibility section to update (default: README.md; '' for none).",
          "partial": "With --to: write an index tag even when some expected Windows entries are missing (by "
                     "default it is left as it is and the run exits 1).",
          "dry_run": "Read and decide everything, then say what would be written (index tags, evidence, files); "
                     "write nothing, not even the results database."},
    iterable=["argo", "mirror", "insecure_registry", "results"],
)
@reports_errors
def publish(c, to=None, argo=None, matrix=None, no_linux=False, mirror=None, insecure_registry=None, results=None,
            db=None, docs="docs", readme="README.md", partial=False, dry_run=False):
    """Publish index tags and evidence; regenerate the compatibility table."""
    pipeline.publish_task(to, argo, matrix, no_linux, mirror, insecure_registry, results, db, docs, readme, partial,
                          dry_run)


@task(
    help={"matrix": SELECT_HELP["matrix"], **STORE_HELP,
          "argo": "Only these Argo versions (repeatable; default: all in the matrix).",
          "host": "Answer for one node, as `invoke which --node` does: a build (10.0.26100), a release (2025, 2019, "
                  "ltsc2019, win11) or a node's node.kubernetes.io/windows-build label value.",
          "format": "text (default), markdown, json or html.",
          "offline": "With --host: do not look up the published digests (see `invoke which --offline`).",
          "insecure_registry": REGISTRY_HELP["insecure_registry"]},
    iterable=["argo", "insecure_registry"],
)
@reports_errors
def table(c, matrix=None, db=None, argo=None, host=None, format="text", offline=False, insecure_registry=None):
    """The compatibility table: which image runs on which node, how sure."""
    pipeline.table_task(matrix, db, argo, host, format, offline, insecure_registry)


@task(
    help={"node": "The node: a build (10.0.17763, 10.0.17763.6893), a release (2019, ltsc2019, 1809, 2025, win11) or "
                  "the value of its node.kubernetes.io/windows-build label (10.0.17763).",
          "argo": "Only these Argo versions (repeatable; default: all in the matrix; --format helm: the newest).",
          "format": "text (default), json, or helm (the argo-workflows chart's executor.image values).",
          "matrix": SELECT_HELP["matrix"], **STORE_HELP,
          "offline": "Do not ask the publish repository (registries.publish) for the digests its tags have now; "
                     "the references are then printed without them.",
          "verbose": "Also each runtime's rule for the entry it takes, and the preference that picked the image.",
          "insecure_registry": REGISTRY_HELP["insecure_registry"]},
    iterable=["argo", "insecure_registry"],
)
@reports_errors
def which(c, node=None, argo=None, format="text", matrix=None, db=None, offline=False, insecure_registry=None,
          verbose=False):
    """Which image a Windows node uses: what to pull, isolation, how sure."""
    pipeline.which_task(node, argo, format, matrix, db, offline=offline, insecure_registry=insecure_registry,
                        verbose=verbose)


@task(
    help={"matrix": SELECT_HELP["matrix"] + " The lock is written beside it (x/foo.yaml: x/foo.lock.json).",
          "check": "Write nothing; exit 1 (and print the changes) when the lock would change.",
          **REGISTRY_HELP},
    iterable=["mirror", "insecure_registry"],
)
@reports_errors
def refresh(c, matrix=None, check=False, mirror=None, insecure_registry=None):
    """Pin the bases' digests and the Argo releases in matrix.lock.json."""
    pipeline.refresh_task(matrix, check, mirror, insecure_registry)


@task(help={**SELECT_HELP}, iterable=SELECT_ITERABLES)
@reports_errors
def ci_matrix(c, matrix=None, base=None, argo=None, only=None, skip=None):
    """Print the nightly's CI matrix (JSON), laid out from the plan."""
    pipeline.ci_matrix_task(Selection(matrix, base, argo, only, skip))


@task(name="import", help={**STORE_HELP, "dir": "Folder (or file) of result records (repeatable)."},
      iterable=["dir"])
@reports_errors
def import_results(c, dir=None, db=None):
    """Import result records (JSON files) into the results database."""
    pipeline.import_task(dir, db)


@task(help={"engine": ENGINE_HELP["engine"],
            "runner": "The runner entry of the matrix to compare with this host (default: the one whose host_build "
                      "is the engine's build, if exactly one).",
            "matrix": SELECT_HELP["matrix"],
            "json": "Print the checks as a JSON list (check, status, message, fix, key).",
            "min_free_gb": "Free space the engine's data root must have, in GB (default: computed from "
                           "the bases the runner's job pulls, plus a margin)."})
@reports_errors
def doctor(c, engine=None, runner=None, matrix=None, json=False, min_free_gb=None):
    """Check a runner's host: engine, OS build, isolation, disk, bases."""
    pipeline.doctor_task(engine, runner, matrix, json, min_free_gb)


@task(help={"ref": "The image: REGISTRY/REPO:TAG, REGISTRY/REPO@sha256:... or REGISTRY/REPO:TAG@sha256:... (the "
                   "digest wins); an index tag shows each Windows entry.",
            "format": "text (default) or json.",
            "insecure_registry": REGISTRY_HELP["insecure_registry"],
            "matrix": "Matrix file whose evidence.trusted_keys say what counts."},
      iterable=["insecure_registry"])
@reports_errors
def evidence(c, ref, format="text", insecure_registry=None, matrix=None):
    """Show the result records attached to exactly this image, counted or not."""
    pipeline.evidence_task(ref, format, insecure_registry, matrix)


results_ns = Collection("results")
results_ns.add_task(import_results)

ns = Collection(plan, render, compile, build, smoke, push, publish, table, which, ci_matrix, refresh, doctor,
                evidence, results_ns)
ns.add_task(compat_, name="compat")
