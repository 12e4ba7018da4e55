"""Benchmark: a nightly in which nothing changed, over the whole matrix, against a loopback registry.

The Linux side of the nightly, in order, as its jobs run it: `invoke refresh` (base digests, Argo
releases), `invoke build --builder oci --base all --argo all --to REPO` (every target), `invoke publish
--to REPO --argo all` (index tags, evidence, table). A first night builds and publishes everything
(cold; publish signs the evidence it pushes); then each no-op night runs the same three steps again with
nothing changed (build checks each skipped image's content: the oci builder assembles it without uploading
and compares digests): a fresh results
database and no new records (as in CI, where the publish job starts clean), the tool's cache kept (as
the workflow keeps it). Wall time of each step and the registry requests it made, counted by a proxy in
front of the registry, per target (7 bases x the Argo versions of the lock).

    python benchmarks/noop_nightly.py [--runs 5]

Needs Debian's docker-registry and skopeo (scripts/install-test-deps). GitHub's releases API is the
suite's stand-in (tests/github_standin.py, constructed answers); the Windows bases are the suite's
synthetic images. The steps run in this process (the interpreter start of a real `invoke` call, about
half a second, is not counted).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder import pipeline  # noqa: E402
from builder.matrix import load_matrix  # noqa: E402
from builder.options import EngineFlags, Selection  # noqa: E402
from builder.targets import all_targets  # noqa: E402
from tests import evidence_keys, infra, windows_images  # noqa: E402
from tests.faulty_proxy import FaultyProxy  # noqa: E402
from tests.github_standin import GitHubStandin, argo_state  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _quiet(step):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        step()
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="no-op nights to time (the median is reported)")
    args = parser.parse_args()
    os.environ["CI"] = "false"
    work = Path(tempfile.mkdtemp(prefix="aeb-noop-"))
    os.environ["ARGOEXEC_BUILDER_CACHE"] = str(work / "cache")
    os.environ.pop("ARGOEXEC_BUILDER_LOCK", None)
    registry = infra.start_registry()
    try:
        with GitHubStandin(argo_state()) as api, FaultyProxy(registry.url) as proxy:
            os.environ["GITHUB_API_URL"] = api.url
            # The project's matrix trusting a key generated for this run, which publish signs with (as the nightly).
            matrix = evidence_keys.trusting_matrix(work, ("maintainer",))
            os.environ["ARGOEXEC_BUILDER_SIGNING_KEY"] = str(evidence_keys.private_key_file("maintainer"))
            windows_images.push_windows_bases(registry.host, work / "bases")
            mirrors = [f"mcr.microsoft.com={proxy.host}/mcr", f"quay.io={proxy.host}/quay"]
            repo = f"{proxy.host}/bench/argoexec"
            exe = work / "argoexec.exe"
            exe.write_bytes(b"MZ" + os.urandom(8 * 1024 * 1024))

            def refresh():
                pipeline.refresh_task(str(matrix), False, mirrors, None)

            def build():
                pipeline.build_task(Selection(str(matrix), "all", "all"),
                                    EngineFlags(results=str(work / "results" / "build")), "oci", str(exe),
                                    to=repo, mirror=mirrors)

            night = [0]

            def publish():
                night[0] += 1
                incoming = work / "results" / f"night{night[0]}"
                incoming.mkdir(parents=True, exist_ok=True)
                if night[0] == 1:  # the first night publishes the build records; later nights have none
                    for record in (work / "results" / "build").glob("*.json"):
                        shutil.copy(record, incoming)
                pipeline.publish_task(repo, "all", str(matrix), False, mirrors, None, str(incoming),
                                      str(work / f"night{night[0]}.sqlite"), str(work / "docs"), "")

            steps = (("refresh", refresh), ("build --to (skip check)", build), ("publish (index, evidence)", publish))
            # The first night: the lock, then the upstream indexes its Argo versions need, then everything.
            _quiet(refresh)
            loaded = load_matrix(matrix)
            for version in loaded.argo:
                windows_images.push_upstream_argoexec(registry.host, work / "upstream", tag=version.tag)
            targets = [t for t in all_targets(loaded) if t.is_windows]
            start = time.perf_counter()
            _quiet(build)
            _quiet(publish)
            cold = time.perf_counter() - start

            times: dict[str, list[float]] = collections.defaultdict(list)
            requests: dict[str, collections.Counter] = {}
            github: dict[str, int] = {}
            totals = []
            for _ in range(args.runs):
                night_total = 0.0
                for name, step in steps:
                    before, api_before = len(proxy.state.log), len(api.state.requests)
                    started = time.perf_counter()
                    output = _quiet(step)
                    elapsed = time.perf_counter() - started
                    times[name].append(elapsed)
                    night_total += elapsed
                    requests[name] = collections.Counter(method for method, _, _ in proxy.state.log[before:])
                    github[name] = len(api.state.requests) - api_before
                    if name.startswith("build") and "unchanged" not in output:
                        raise SystemExit(f"a no-op night built something:\n{output}")
                totals.append(night_total)
            writes = sum(requests[name][m] for name in requests for m in ("PUT", "POST", "PATCH", "DELETE"))
            # The same night as the nightly's jobs run it: three `invoke` processes.
            invoke = [sys.executable, "-m", "invoke"]
            mirror_flags = [flag for mirror in mirrors for flag in ("--mirror", mirror)]
            commands = [
                [*invoke, "refresh", "--matrix", str(matrix), *mirror_flags],
                [*invoke, "build", "--matrix", str(matrix), "--builder", "oci", "--base", "all", "--argo", "all",
                 "--argoexec-exe", str(exe), "--to", repo, "--results", str(work / "results" / "build"),
                 *mirror_flags],
                [*invoke, "publish", "--matrix", str(matrix), "--argo", "all", "--to", repo, "--db",
                 str(work / "cli.sqlite"), "--docs", str(work / "docs"), "--readme", "", *mirror_flags],
            ]
            started = time.perf_counter()
            for command in commands:
                subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            processes = time.perf_counter() - started

        n = len(targets)
        print(f"{n} Windows targets ({len(loaded.releases)} bases x {len(loaded.argo)} Argo versions); "
              f"first night (build + publish, cold): {cold:.2f} s")
        print(f"no-op night, median of {args.runs}:")
        print("| step | seconds | registry requests | per target | GitHub API requests |")
        print("|---|---|---|---|---|")
        for name, _ in steps:
            count = sum(requests[name].values())
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(requests[name].items()))
            print(f"| {name} | {statistics.median(times[name]):.2f} | {count} ({kinds}) | {count / n:.2f} | "
                  f"{github[name]} |")
        total_requests = sum(sum(c.values()) for c in requests.values())
        print(f"| whole night | {statistics.median(totals):.2f} | {total_requests} | {total_requests / n:.2f} | "
              f"{sum(github.values())} |")
        print(f"writes (PUT/POST/PATCH/DELETE) in the last no-op night: {writes}")
        print(f"the same night as three `invoke` processes (interpreter start and imports included): "
              f"{processes:.2f} s")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
