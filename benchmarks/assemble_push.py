"""Benchmark: assemble and push all seven Windows bases for one Argo version to a loopback registry.

Compared against the floor: compressing and hashing the app layer once and uploading it once
(what any tool must do at least). Also counts the bytes uploaded per unique blob.

    python benchmarks/assemble_push.py [--size-mb 70] [--runs 3]

Needs Debian's docker-registry and skopeo (scripts/install-test-deps). The stand-in binary is
random bytes (incompressible: the worst case for gzip; a real Go binary compresses to about half).
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

from builder import binaries  # noqa: E402
from builder import matrix as matrix_mod  # noqa: E402
from builder.builders import BuildOptions  # noqa: E402
from builder.builders.oci import OciBuilder  # noqa: E402
from builder.oci.layer import windows_layer  # noqa: E402
from builder.plan import BUILDER_OCI, plan_build  # noqa: E402
from builder.progress import Progress  # noqa: E402
from builder.registry import Reference, RegistryClient  # noqa: E402
from builder.targets import select  # noqa: E402
from tests import infra, windows_images  # noqa: E402


class _Quiet(Progress):
    def line(self, text: str) -> None:
        self._tail.append(text)

    def begin(self, title: str) -> None:
        self._tail.clear()

    def end(self, what: str, status: str, detail: str = "") -> None:
        self.summary.append((what, status, detail))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=70)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("CI", "false")
    registry = infra.start_registry()
    work = Path(tempfile.mkdtemp(prefix="aeb-bench-"))
    try:
        windows_images.push_windows_bases(registry.host, work)
        binary = work / "argoexec.exe"
        binary.write_bytes(os.urandom(args.size_mb * 1024 * 1024))
        (work / "7za.exe").write_bytes(os.urandom(1024 * 1024))
        matrix = matrix_mod.load_matrix()
        matrix = type(matrix)(**{**matrix.__dict__, "mirrors": {"mcr.microsoft.com": f"{registry.host}/mcr"}})
        targets = select(matrix, "all")
        plans = plan_build(matrix, targets, None, BUILDER_OCI)

        full, again, floor = [], [], []
        stats = None
        for run in range(args.runs):
            os.environ["ARGOEXEC_BUILDER_CACHE"] = str(work / f"cache-{run}")
            client = RegistryClient()
            # One binary for every base, as `--binary compiled` gives (7za.exe too, as the floor has it).
            stand_in = binaries.prebuilt(binary, work / "7za.exe")
            options = BuildOptions(repo="unused", to=Reference.parse(f"{registry.host}/bench{run}/argoexec"),
                                   binaries={tag: stand_in for tag in {t.argo.tag for t in targets}},
                                   results_dir=work / "results", work=work / f"layers-{run}")
            started = time.perf_counter()
            outcomes = OciBuilder(matrix, client, options).build(plans, _Quiet())
            full.append(time.perf_counter() - started)
            assert all(o.ok for o in outcomes), [o.record.log_excerpt for o in outcomes if not o.ok]
            stats = client.stats
            rerun = RegistryClient()
            started = time.perf_counter()
            OciBuilder(matrix, rerun, options).build(plans, _Quiet())
            again.append(time.perf_counter() - started)
            assert rerun.stats.uploaded_bytes == 0

            started = time.perf_counter()
            # The floor stays single-core (workers=1), as it was with gzip.GzipFile: the goal is measured
            # against one core. The layer is the same blob on any number of workers.
            layer = windows_layer({"app/argoexec.exe": binary, "app/7za.exe": work / "7za.exe"},
                                  work / f"floor-{run}", workers=1)
            client = RegistryClient()
            client.upload_blob(registry.host, f"floor{run}/x", layer.blob.digest, layer.blob.size, layer.blob.open)
            floor.append(time.perf_counter() - started)

        unique = len(stats.uploads)
        print(f"| what ({args.size_mb} MB stand-in, {len(targets)} bases, median of {args.runs}) | seconds |")
        print("|---|---|")
        print(f"| assemble + push all {len(targets)} bases (cold cache) | {statistics.median(full):.2f} |")
        print(f"| same again (nothing to upload) | {statistics.median(again):.2f} |")
        print(f"| floor: gzip on one core + sha256 the app layer, upload it once | {statistics.median(floor):.2f} |")
        print()
        print(f"uploaded {stats.uploaded_bytes / 1e6:.1f} MB in {sum(stats.uploads.values())} uploads of "
              f"{unique} unique blobs (max uploads of one blob: {max(stats.uploads.values())}); "
              f"{stats.mounts} base layers mounted, {stats.retries} retries")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)  # several hundred MB of layers and blobs per run


if __name__ == "__main__":
    main()
