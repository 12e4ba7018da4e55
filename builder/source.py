"""Build contexts: the Argo source tree at a tag (fetched once, cached) or a prebuilt binary.

The source tree is a shallow git clone of the tag, kept under the cache folder (builder/cache.py),
and reused by every base of the same Argo version: the source is the same, only the base differs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_root
from .errors import InputError, Unreachable
from .render import COPY, WINDOWS_SOURCE, go_directive
from .secrets import redact, strip_userinfo

ARGO_GIT = "https://github.com/argoproj/argo-workflows.git"


@dataclass(frozen=True)
class BuildContext:
    """A folder to send to the engine, and what it holds."""

    path: Path
    variant: str  # render.COPY (the binary is in the folder) or render.WINDOWS_SOURCE (the Argo tree is)
    git_commit: str | None = None
    git_tag: str | None = None
    go_version: str | None = None
    source_url: str = ARGO_GIT
    sevenzip: bool = False  # the folder has a 7za.exe to copy

    @property
    def build_args(self) -> dict[str, str]:
        if self.variant != WINDOWS_SOURCE:
            return {}
        return {"GIT_COMMIT": self.git_commit or "unknown", "GIT_TAG": self.git_tag or "unknown",
                "GIT_TREE_STATE": "clean"}


# What a task can do without the Argo source: the build tasks take a binary, compile takes a local tree.
WITHOUT_SOURCE = "pass --argo-git URL or --argoexec-exe PATH"


def _git(*args: str, cwd: Path | None = None, instead: str = WITHOUT_SOURCE) -> str:
    git = shutil.which("git")
    if git is None:
        raise InputError(f"git is not installed; it is needed to fetch the Argo source (Debian: git), or {instead}")
    result = subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)
    return result.stdout.strip()


def argo_source(tag: str, url: str = ARGO_GIT, cache: Path | None = None,
                instead: str = WITHOUT_SOURCE) -> BuildContext:
    """The Argo tree at ``tag``: cloned once into the cache, then reused. ``instead``: the flags of the task that
    do without the clone, for the error when it cannot be made (a hint names only flags the task has)."""
    # Keyed by URL and tag: another --argo-git never reuses a tree cloned from elsewhere.
    origin = hashlib.sha256(strip_userinfo(url).encode()).hexdigest()[:12]
    folder = (cache or cache_root()) / "argo-src" / (tag if url == ARGO_GIT else f"{tag}-{origin}")
    if not (folder / ".git").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{tag}-", dir=folder.parent))
        try:
            _git("clone", "--quiet", "--depth", "1", "--branch", tag, "--single-branch", url, str(scratch / "tree"),
                 instead=instead)
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            reason = " ".join(redact(exc.stderr or "").split())[:300]
            raise Unreachable(f"cannot fetch Argo {tag} from {redact(url)} ({reason}); check the network, or "
                              f"{instead}") from None
        os.replace(scratch / "tree", folder) if not folder.exists() else None
        shutil.rmtree(scratch, ignore_errors=True)
    commit = _git("rev-parse", "HEAD", cwd=folder)
    go_mod = folder / "go.mod"
    go_version = go_directive(go_mod.read_text(encoding="utf-8")) if go_mod.exists() else None
    return BuildContext(folder, WINDOWS_SOURCE, commit, tag, go_version, url)


def prebuilt(directory: Path, files: dict[str, Path]) -> BuildContext:
    """A context holding only the given files by their name in the image (``binaries.Binary.files``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        shutil.copy2(path, directory / name)
    return BuildContext(directory, COPY, sevenzip="7za.exe" in files)
