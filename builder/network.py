"""The network a build run needs: said by ``build --dry-run``, and with the first unreachable source, so that
an offline build learns everything it needs at once; an unreachable source registry, with what can be done
without it (a mirror, a binary given, no linux entries).
"""

from __future__ import annotations

import re

from . import plan
from .errors import Unreachable
from .matrix import Matrix
from .options import BuildRun

OFFLINE_RE = re.compile(r"refused|could ?n[o']t (connect|resolve)|failed to connect|not known|no route|"
                         r"unreachable|name resolution|timed out|no such host", re.IGNORECASE)


def network_needs(run: BuildRun, plans: list[plan.PlannedTarget]) -> list[str]:
    """What a build run reads from (or writes to) the network, each with how to do without it: said by
    ``--dry-run``, and with the first unreachable one, so that an offline build learns everything it needs at once."""
    from . import binaries
    from .reference import Reference

    loaded, options, binary, go = run.matrix, run.options, run.options.binary, run.go
    needs = []
    windows = [p for p in plans if p.target.is_windows]
    if windows and options.argoexec_exe is None and run.compiled is None:
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
    for builder_name, what in ((plan.BUILDER_OCI, "read"),
                               (plan.BUILDER_DOCKER, "pulled by the engine unless present")):
        releases = [p.target.windows for p in windows if p.builder == builder_name]
        if not releases:
            continue
        flavours = ("nanoserver", "servercore") if builder_name == plan.BUILDER_OCI else ("nanoserver",)
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
