"""Build contexts: the Argo source tree at a tag (fetched once, cached) or a prebuilt binary.

The source tree is a shallow git clone of the tag, kept under the cache folder
(``$ARGOEXEC_BUILDER_CACHE``, else ``$XDG_CACHE_HOME/argoexec-builder``, else ``~/.cache/...``),
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

from .errors import InputError, Unreachable
from .render import PREBUILT, SOURCE, go_directive
from .secrets import redact, strip_userinfo

ARGO_GIT = "https://github.com/argoproj/argo-workflows.git"


def cache_dir() -> Path:
    if os.environ.get("ARGOEXEC_BUILDER_CACHE"):
        return Path(os.environ["ARGOEXEC_BUILDER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "argoexec-builder"


@dataclass(frozen=True)
class BuildContext:
    """A folder to send to the engine, and what it holds."""

    path: Path
    binary: str  # render.SOURCE or render.PREBUILT
    git_commit: str | None = None
    git_tag: str | None = None
    go_version: str | None = None
    source_url: str = ARGO_GIT

    @property
    def build_args(self) -> dict[str, str]:
        if self.binary != SOURCE:
            return {}
        return {"GIT_COMMIT": self.git_commit or "unknown", "GIT_TAG": self.git_tag or "unknown",
                "GIT_TREE_STATE": "clean"}


def _git(*args: str, cwd: Path | None = None) -> str:
    git = shutil.which("git")
    if git is None:
        raise InputError("git is not installed; it is needed to fetch the Argo source (or pass --argoexec-exe)")
    result = subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)
    return result.stdout.strip()


def argo_source(tag: str, url: str = ARGO_GIT, cache: Path | None = None) -> BuildContext:
    """The Argo tree at ``tag``: cloned once into the cache, then reused."""
    # Keyed by URL and tag: another --argo-git never reuses a tree cloned from elsewhere.
    origin = hashlib.sha256(strip_userinfo(url).encode()).hexdigest()[:12]
    folder = (cache or cache_dir()) / "argo-src" / (tag if url == ARGO_GIT else f"{tag}-{origin}")
    if not (folder / ".git").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{tag}-", dir=folder.parent))
        try:
            _git("clone", "--quiet", "--depth", "1", "--branch", tag, "--single-branch", url, str(scratch / "tree"))
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            reason = " ".join(redact(exc.stderr or "").split())[:300]
            raise Unreachable(f"cannot fetch Argo {tag} from {redact(url)} ({reason}); check the network, or "
                              "pass --argo-git URL or --argoexec-exe PATH") from None
        os.replace(scratch / "tree", folder) if not folder.exists() else None
        shutil.rmtree(scratch, ignore_errors=True)
    commit = _git("rev-parse", "HEAD", cwd=folder)
    go_mod = folder / "go.mod"
    go_version = go_directive(go_mod.read_text(encoding="utf-8")) if go_mod.exists() else None
    return BuildContext(folder, SOURCE, commit, tag, go_version, url)


def prebuilt_binaries(argoexec: Path, windows: bool, sevenzip: Path | None = None) -> dict[str, Path]:
    """The files of a prebuilt image by their name in it: ``argoexec`` for Linux; ``argoexec.exe`` and
    ``7za.exe`` (artifact unpacking; beside argoexec.exe unless named) for Windows."""
    if not argoexec.is_file():
        raise InputError(f"--argoexec-exe {argoexec}: no such file")
    if not windows:
        return {"argoexec": argoexec}
    sevenzip = sevenzip or argoexec.with_name("7za.exe")
    if not sevenzip.is_file():
        raise InputError(f"--sevenzip-exe {sevenzip}: no such file; a Windows image needs 7za.exe beside "
                         "argoexec.exe (for artifacts)")
    return {"argoexec.exe": argoexec, "7za.exe": sevenzip}


def prebuilt(directory: Path, argoexec: Path, windows: bool, sevenzip: Path | None = None) -> BuildContext:
    """A context holding only the prebuilt binary (and 7za.exe for Windows)."""
    files = prebuilt_binaries(argoexec, windows, sevenzip)
    directory.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        shutil.copy2(path, directory / name)
    return BuildContext(directory, PREBUILT)
