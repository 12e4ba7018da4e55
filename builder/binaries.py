"""Where the argoexec binary of each image comes from (``invoke build --binary``).

- ``compiled`` (the default): argoexec.exe cross-compiled on Linux once per Argo version
  (``builder.compile``), the same bytes for every Windows base;
- ``upstream``: the argoexec.exe (and 7za.exe) of upstream's published ``argoexec:<tag>-windows``
  image. Upstream's release build passes no GIT_TAG, so its ``argoexec version`` does not name the
  tag (reference: argoproj/argo-workflows Dockerfile.windows and its CI): only on request;
- ``windows-source``: no binary here; the docker builder compiles inside the target's servercore,
  as upstream's Dockerfile.windows does;
- ``--argoexec-exe PATH`` overrides all of them (``prebuilt``).

7za.exe is optional: no Go code of argoexec calls it at the supported tags (only upstream's
Dockerfile copies it), so it goes into the image only when given (``--sevenzip-exe``, or beside a
prebuilt argoexec.exe) or found in upstream's image. Every image records which binary it carries:
its origin and sha256 are in the image labels and in the build record.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .matrix import Matrix
from .source import cache_dir

COMPILED, UPSTREAM, WINDOWS_SOURCE, PREBUILT = "compiled", "upstream", "windows-source", "prebuilt"
CHOICES = (COMPILED, UPSTREAM, WINDOWS_SOURCE)
UPSTREAM_FILES = {"Files/app/argoexec.exe": "argoexec.exe", "Files/app/7za.exe": "7za.exe"}
LABEL_ORIGIN = "io.argoexec-builder.argoexec.origin"
LABEL_SHA256 = "io.argoexec-builder.argoexec.sha256"


@dataclass(frozen=True)
class Binary:
    """The executable an image carries, and where it came from."""

    origin: str  # COMPILED, UPSTREAM or PREBUILT
    argoexec: Path
    sevenzip: Path | None
    sha256: str
    detail: str  # what the record says of it: the commit and Go, the upstream image, the file given
    commit: str | None = None  # the Argo commit it was compiled from, when known (the image's revision label)

    def files(self, windows: bool = True) -> dict[str, Path]:
        """The files by their name in the image: ``argoexec.exe`` (+ ``7za.exe``), or ``argoexec`` for Linux."""
        if not windows:
            return {"argoexec": self.argoexec}
        return {"argoexec.exe": self.argoexec, **({"7za.exe": self.sevenzip} if self.sevenzip else {})}

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_ORIGIN: self.origin, LABEL_SHA256: f"sha256:{self.sha256}"}

    @functools.cached_property
    def input(self) -> str:
        """The ``binary`` input of every image that carries it (``inputs.binary_input``): its files hashed once,
        argoexec.exe's sha256 being known already."""
        from .inputs import binary_input

        return binary_input(self.files(), lambda path: self.sha256 if path == self.argoexec else sha256_file(path))

    @property
    def summary(self) -> str:
        return f"{self.origin} argoexec sha256:{self.sha256} ({self.detail})"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prebuilt(argoexec: Path, sevenzip: Path | None = None, windows: bool = True) -> Binary:
    """``--argoexec-exe`` (and ``--sevenzip-exe``, else a 7za.exe beside it if there is one)."""
    if not argoexec.is_file():
        raise InputError(f"--argoexec-exe {argoexec}: no such file")
    if sevenzip is not None and not sevenzip.is_file():
        raise InputError(f"--sevenzip-exe {sevenzip}: no such file")
    with open(argoexec, "rb") as handle:
        head = handle.read(4)
    # Windows programs start with the DOS header "MZ" (PE format); anything else in C:\app\argoexec.exe
    # would only fail on a Windows node, long after the build "passed". A Linux image gets no MZ file.
    if windows and head[:2] != b"MZ":
        kind = "a Linux ELF program" if head == b"\x7fELF" else "not a Windows program (no MZ header)"
        raise InputError(f"--argoexec-exe {argoexec}: {kind}, given for Windows images; pass argoexec.exe "
                         "(or build Linux flavours in a run of their own)")
    if not windows and head[:2] == b"MZ":
        raise InputError(f"--argoexec-exe {argoexec}: a Windows program, given for Linux images; pass the Linux "
                         "argoexec (or build the Windows bases in a run of their own)")
    if windows and sevenzip is None and argoexec.with_name("7za.exe").is_file():
        sevenzip = argoexec.with_name("7za.exe")
    return Binary(PREBUILT, argoexec, sevenzip if windows else None, sha256_file(argoexec),
                  f"--argoexec-exe {argoexec.name}")


def compiled(tag: str, *, output: Path, go: str, argo_git: str, sevenzip: Path | None,
             say: Callable[[str], None]) -> Binary:
    """argoexec.exe for ``tag``, cross-compiled (or taken from the compile cache)."""
    from .compile import compile_argoexec

    result = compile_argoexec(tag, output=output, go=go, argo_git=argo_git, progress=say)
    return Binary(COMPILED, result.exe, sevenzip, result.sha256,
                  f"{result.tag} {result.commit[:12]} {result.tree_state}, {result.go_version} ({result.go_how})",
                  result.commit)


def from_compiled(folder: Path, tag: str, sevenzip: Path | None) -> Binary:
    """The argoexec.exe ``invoke compile --out FOLDER`` wrote for ``tag`` (a CI job on Linux compiles; the
    Windows runners' jobs take its output): checked against the sha256 of its provenance file."""
    exe = folder / "dist" / "bin" / tag / "windows-amd64" / "argoexec.exe"
    provenance = exe.with_name("argoexec.exe.json")
    if not exe.is_file() or not provenance.is_file():
        raise InputError(f"--compiled {folder}: no dist/bin/{tag}/windows-amd64/argoexec.exe with its .json; run "
                         f"`invoke compile --argo {tag} --out {folder}` first")
    try:
        record = json.loads(provenance.read_text(encoding="utf-8"))
        expected, commit, go = record["sha256"], record["git_commit"], record["go_version"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"--compiled {folder}: {provenance.name} of {tag} is not a provenance file of "
                         "`invoke compile`") from None
    found = sha256_file(exe)
    if found != expected:
        raise InputError(f"--compiled {folder}: {tag}'s argoexec.exe has sha256 {found[:12]}, its provenance says "
                         f"{str(expected)[:12]}; compile it again")
    return Binary(COMPILED, exe, sevenzip, found, f"{tag} {str(commit)[:12]}, {go} (from {provenance.name})",
                  str(commit))


def upstream(matrix: Matrix, client, tag: str, say: Callable[[str], None]) -> Binary:
    """argoexec.exe (and 7za.exe when there) from upstream's ``argoexec:<tag>-windows``, cached by digest."""
    from .files import write_atomically
    from .oci import extract_files, resolve
    from .registry import Reference

    reference = Reference.parse(matrix.mirrored(f"{matrix.registries.argoexec}:{tag}-windows"))
    image = resolve(client, reference)
    folder = cache_dir() / "upstream" / image.manifest_digest.replace(":", "-")
    index = folder / "files.json"
    if not index.is_file():
        say(f"reading argoexec.exe from {reference}")
        found = extract_files(client, image, UPSTREAM_FILES).files
        if "argoexec.exe" not in found:
            raise InputError(f"{reference} has no C:\\app\\argoexec.exe; use --binary compiled or --argoexec-exe")
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in found.items():
            write_atomically(folder / name, content)
        write_atomically(index, json.dumps(sorted(found)).encode())
    names = json.loads(index.read_text())
    exe = folder / "argoexec.exe"
    return Binary(UPSTREAM, exe, folder / "7za.exe" if "7za.exe" in names else None, sha256_file(exe),
                  f"{reference}@{image.manifest_digest}")


def for_windows_targets(tags: Iterable[str], choice: str, *, matrix: Matrix, argoexec_exe: Path | None,
                        sevenzip_exe: Path | None, go: str, argo_git: str, output: Path, client_factory,
                        say: Callable[[str], None], compiled_dir: Path | None = None) -> dict[str, Binary]:
    """The binary of each Argo version's Windows images (none for ``windows-source``): each made once."""
    if choice not in CHOICES:
        raise InputError(f"--binary {choice}: expected one of: {', '.join(CHOICES)}")
    tags = list(dict.fromkeys(tags))
    if not tags:
        return {}  # no Windows target in this run: nothing to compile, fetch or check
    if argoexec_exe is not None:
        given = prebuilt(argoexec_exe, sevenzip_exe)
        return {tag: given for tag in tags}
    if choice == WINDOWS_SOURCE:
        return {}
    if choice == UPSTREAM:
        client = client_factory()
        return {tag: upstream(matrix, client, tag, say) for tag in tags}
    if sevenzip_exe is not None and not sevenzip_exe.is_file():
        raise InputError(f"--sevenzip-exe {sevenzip_exe}: no such file")
    if compiled_dir is not None:
        return {tag: from_compiled(compiled_dir, tag, sevenzip_exe) for tag in tags}
    return {tag: compiled(tag, output=output, go=go, argo_git=argo_git, sevenzip=sevenzip_exe, say=say)
            for tag in tags}
