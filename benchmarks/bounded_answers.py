"""Benchmark: what hostile answers cost the tool (peak memory, seconds to refusal), and redaction of a long value.

Each scenario runs in a child process of its own (its peak resident memory is the child's ``ru_maxrss``,
the interpreter and imports included) against a hostile server on loopback (tests/hostile_http.py,
constructed answers) in this process:

- ``manifest-300MB``: a registry answering a manifest GET with 300 MB (the registry client);
- ``github-300MB``: GitHub's API answering a releases page with 300 MB (the GitHub client);
- ``blob-300MB-descriptor-100B``: a blob whose descriptor says 100 bytes, answered with 300 MB;
- ``registry-drip``: a registry that sends one byte of its answer every 0.5 s (``--timeout`` per attempt,
  5 attempts, the registry client's defaults but the timeout);
- ``github-drip``: the same from GitHub's API (3 attempts of its 30 s deadline);
- ``argo-log-20MB-one-line``: an Argo Server log stream of 20 MB without a newline;
- ``redact-40000``: ``secrets.redact``, ``has_userinfo`` and ``flag_secrets`` of a 40,000-character value.

    python benchmarks/bounded_answers.py [--timeout 5] [--skip-github-drip]

Prints one line per scenario and a Markdown table for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1 << 20


def _child(name: str, url: str, host: str, timeout: float) -> dict:
    """Run one scenario here (in the child process); what it measured."""
    from builder import github
    from builder.cluster import ArgoClient
    from builder.registry import Reference, RegistryClient

    started = time.monotonic()
    outcome = ""
    try:
        if name == "manifest-300MB":
            RegistryClient(attempts=1).get_manifest(Reference.parse(f"{host}/repo:tag"))
        elif name == "github-300MB":
            github.GitHub(base_url=url, token=None, attempts=1).releases("argoproj/argo-workflows")
        elif name == "blob-300MB-descriptor-100B":
            RegistryClient(attempts=1).get_blob(host, "repo", "sha256:" + "ab" * 32, size=100)
        elif name == "registry-drip":
            RegistryClient(timeout_s=timeout).get_manifest(Reference.parse(f"{host}/repo:tag"))
        elif name == "github-drip":
            github.GitHub(base_url=url, token=None).releases("argoproj/argo-workflows")
        elif name == "argo-log-20MB-one-line":
            outcome = ArgoClient(url, None).logs("hello-windows-abc").problem or ""
        elif name == "redact-40000":
            from builder.secrets import flag_secrets, has_userinfo, redact

            times = {}
            for label, value in (("letters", "a" * 40_000), ("after a scheme", "https://" + "a" * 40_000)):
                for function in (redact, has_userinfo, lambda text: flag_secrets([text])):
                    begun = time.monotonic()
                    function(value)
                    times[label] = max(times.get(label, 0.0), time.monotonic() - begun)
            outcome = ", ".join(f"{label}: {seconds * 1000:.1f} ms" for label, seconds in times.items())
    except Exception as exc:  # noqa: BLE001 - the refusal is the point
        outcome = f"{exc.__class__.__name__}: {str(exc)[:160]}"
    return {"seconds": time.monotonic() - started, "outcome": outcome,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _server_for(name: str):
    from tests.hostile_http import Hostile, HostileServer

    if name in ("manifest-300MB", "github-300MB", "blob-300MB-descriptor-100B"):
        return HostileServer(Hostile("huge", size=300 * MB))
    if name in ("registry-drip", "github-drip"):
        return HostileServer(Hostile("drip", size=100_000, interval=0.5))
    if name == "argo-log-20MB-one-line":
        return HostileServer(Hostile("lines", size=20 * MB, prefix=b'{"result":{"podName":"p","content":"'))
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=5.0, help="the registry timeout of registry-drip")
    parser.add_argument("--skip-github-drip", action="store_true", help="leave out github-drip (90 s)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, url, host, timeout = args.child
        print(json.dumps(_child(name, url, host, float(timeout))))
        return
    names = ["manifest-300MB", "github-300MB", "blob-300MB-descriptor-100B", "registry-drip", "github-drip",
             "argo-log-20MB-one-line", "redact-40000"]
    if args.skip_github_drip:
        names.remove("github-drip")
    rows = []
    for name in names:
        server = _server_for(name)
        context = server if server is not None else _Nothing()
        with context:
            url = server.url if server else "http://127.0.0.1:9"
            host = server.host if server else "127.0.0.1:9"
            done = subprocess.run([sys.executable, __file__, "--child", name, url, host, str(args.timeout)],
                                  capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), check=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((name, measured))
        print(f"{name}: {measured['seconds']:.2f} s, peak {measured['peak_mb']:.0f} MB; {measured['outcome']}")
    print()
    print("| scenario | seconds | peak memory | outcome |")
    print("|---|---|---|---|")
    for name, measured in rows:
        outcome = measured["outcome"].replace("|", "\\|")
        print(f"| {name} | {measured['seconds']:.2f} | {measured['peak_mb']:.0f} MB | {outcome} |")


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


if __name__ == "__main__":
    main()
