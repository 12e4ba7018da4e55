"""Where every cache lives: one folder, shared by the steps that keep something between runs.

``$ARGOEXEC_BUILDER_CACHE``, else ``$XDG_CACHE_HOME/argoexec-builder``, else ``~/.cache/argoexec-builder``.
Each user keeps a folder of its own under it: ``argo-src`` (source.argo_source), ``argoexec-bin``
(compile), ``upstream`` (binaries.upstream), ``layers`` (the oci builder's Windows layers),
``netapi32-v2`` (builders.oci), ``foreign-layers`` (oci.foreign) and ``evidence`` (evidence).
Every file in them is written through files.atomic_output, and read as a cache: what cannot be read
is made again.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("ARGOEXEC_BUILDER_CACHE"):
        return Path(os.environ["ARGOEXEC_BUILDER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "argoexec-builder"
