"""Benchmark: `invoke compile` cold (empty Go caches and compile cache) against cached (nothing compiled).

Compiles the test suite's stand-in Argo tree (tests/argo_standin.py: upstream's Makefile shape, a small
Go program) with the Go on PATH (Debian's golang-go), so what is measured is the tool's own path: the
clone, make, go build of a small module, the PE check, the provenance and the cache. A real Argo tree
compiles for minutes; the cached call costs the same either way, because nothing is compiled.

    python benchmarks/compile.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.compile import compile_argoexec  # noqa: E402
from tests import argo_standin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, cached = [], []
    for _ in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="aeb-compile-bench-"))
        os.environ["GOCACHE"] = str(work / "gocache")  # a cold Go build cache too
        os.environ["GOPATH"] = str(work / "gopath")
        tree = argo_standin.make_standin(work / "argo", tag="v4.1.2")
        started = time.perf_counter()
        first = compile_argoexec("v4.1.2", output=work / "out", go="local", source=tree.path, cache=work / "cache",
                                 progress=lambda _: None)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        again = compile_argoexec("v4.1.2", output=work / "out2", go="local", source=tree.path, cache=work / "cache",
                                 progress=lambda _: None)
        cached.append(time.perf_counter() - started)
        assert not first.cached and again.cached and first.sha256 == again.sha256
        shutil.rmtree(work, ignore_errors=True)
    print(f"| what (stand-in Argo tree, median of {args.runs}) | seconds |")
    print("|---|---|")
    print(f"| compile cold (empty compile cache and Go build cache) | {statistics.median(cold):.2f} |")
    print(f"| compile again (cached: nothing compiled) | {statistics.median(cached):.2f} |")


if __name__ == "__main__":
    main()
