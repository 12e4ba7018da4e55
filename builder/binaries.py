"""Where the argoexec binary of each image comes from (``invoke build --binary``).

- ``auto`` (the default): ``compiled`` when a Go here can compile; when none can (``compile.NoToolchain``:
  no Go, or one older than 1.21 and older than go.mod's, and no engine), ``upstream``, said in one line
  with what the image's ``argoexec version`` will print (read from the binary's Go build info);
- ``compiled``: argoexec.exe cross-compiled on Linux once per Argo version
  (``builder.compile``), the same bytes for every Windows base; no Go is an error;
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
import mmap
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_root
from .errors import InputError
from .matrix import Matrix

AUTO, COMPILED, UPSTREAM, WINDOWS_SOURCE, PREBUILT = "auto", "compiled", "upstream", "windows-source", "prebuilt"
CHOICES = (AUTO, COMPILED, UPSTREAM, WINDOWS_SOURCE)
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
    version: str | None = None  # what its `argoexec version` prints first, when its build info tells

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
             say: Callable[[str], None], go_hint: str | None = None) -> Binary:
    """argoexec.exe for ``tag``, cross-compiled (or taken from the compile cache)."""
    from .compile import compile_argoexec

    result = compile_argoexec(tag, output=output, go=go, argo_git=argo_git, progress=say, go_hint=go_hint)
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
    from .files import read_cached_json, write_atomically
    from .oci.remote import extract_files, resolve
    from .registry import Reference

    reference = Reference.parse(matrix.mirrored(f"{matrix.registries.argoexec}:{tag}-windows"))
    image = resolve(client, reference)
    folder = cache_root() / "upstream" / image.manifest_digest.replace(":", "-")
    index = folder / "files.json"
    names = read_cached_json(index)
    if not (isinstance(names, list) and "argoexec.exe" in names and set(names) <= set(UPSTREAM_FILES.values())
            and all((folder / name).is_file() for name in names)):  # none yet, or a cache that cannot be read
        say(f"reading argoexec.exe from {reference}")
        found = extract_files(client, image, UPSTREAM_FILES).files
        if "argoexec.exe" not in found:
            raise InputError(f"{reference} has no C:\\app\\argoexec.exe; use --binary compiled or --argoexec-exe")
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in found.items():
            write_atomically(folder / name, content)
        names = sorted(found)
        write_atomically(index, json.dumps(names).encode())
    exe = folder / "argoexec.exe"
    return Binary(UPSTREAM, exe, folder / "7za.exe" if "7za.exe" in names else None, sha256_file(exe),
                  f"{reference}@{image.manifest_digest}", version=argoexec_version(exe))


def compiled_or_upstream(matrix: Matrix, tag: str, *, output: Path, go: str, argo_git: str,
                         sevenzip: Path | None, client_factory, say: Callable[[str], None]) -> Binary:
    """``--binary auto``: compiled when a Go here can; else upstream's, with one line saying so and why."""
    from .compile import NoToolchain

    hint = next((a.go for a in matrix.argo if a.tag == tag), None)
    try:
        return compiled(tag, output=output, go=go, argo_git=argo_git, sevenzip=sevenzip, say=say, go_hint=hint)
    except NoToolchain as exc:
        why = exc.gist
    made = upstream(matrix, client_factory(), tag, say)
    prints = (f"its `argoexec version` prints {made.version}" if made.version else
              "its Go build info does not say what `argoexec version` prints")
    say(f"{tag}: no Go here to compile argoexec.exe ({why}): using upstream's, from {made.detail.split('@')[0]}; "
        f"{prints} (--binary compiled: compile or fail)")
    return made


# -- what a Go executable says of its own build -----------------------------------------------------------

_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_ARGO_PACKAGE_RE = re.compile(r"(^|/)argo-workflows(/v\d+)?$")


def go_build_settings(path: Path) -> dict[str, str]:
    """The ``build`` settings (``-ldflags``, ``GOOS``, ``vcs.revision``...) a Go executable of Go 1.18 or later
    carries, as ``go version -m`` shows them; empty when it has none.

    The layout (golang/go ``src/debug/buildinfo/buildinfo.go``, ``readRawBuildInfo``): a 32-byte header at a
    16-byte-aligned offset starting with ``\\xff Go buildinf:``, its byte 15 holding flag 2 when the strings
    follow inline (Go 1.18+); then two uvarint-length-prefixed strings, the Go version and the module info,
    the latter between 16-byte sentinels. Its lines (``src/runtime/debug/mod.go``, ``BuildInfo.String``) are
    ``build<TAB>KEY=VALUE``, a value with spaces or quotes written as a Go quoted string. The go command
    leaves ``-ldflags`` out of a ``-trimpath`` build (``src/cmd/go/internal/load/pkg.go``, ``setBuildInfo``).
    """
    with open(path, "rb") as handle:
        try:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return {}
        with data:
            at = data.find(_BUILDINFO_MAGIC)
            while at != -1 and at % 16:
                at = data.find(_BUILDINFO_MAGIC, at + 1)
            if at == -1 or at + 32 > len(data) or not data[at + 15] & 2:
                return {}
            _, position = _uvarint_bytes(data, at + 32)
            info, _ = _uvarint_bytes(data, position)
    if len(info) >= 33 and info[-17] == ord("\n"):
        info = info[16:-16]
    settings = {}
    for line in info.decode("utf-8", "replace").split("\n"):
        kind, _, rest = line.partition("\t")
        if kind == "build" and "=" in rest:
            key, _, value = rest.partition("=")
            settings[_unquote(key)] = _unquote(value)
    return settings


def argoexec_version(path: Path) -> str | None:
    """The first line's version of ``argoexec version``, from the ``-X`` stamps in the binary's ``-ldflags``
    and upstream's rule (argoproj/argo-workflows ``version.go``, ``GetVersion``: the tag when commit, tag and a
    clean tree are all stamped, else ``<version>+<commit[:7]>`` with ``.dirty`` for a tree that is not clean,
    ``+unknown`` for a shorter commit). None when the binary does not record its link flags."""
    ldflags = go_build_settings(path).get("-ldflags")
    if ldflags is None:
        return None
    try:
        words = shlex.split(ldflags)
    except ValueError:
        return None
    stamps: dict[str, str] = {}
    for position, word in enumerate(words):
        item = word[3:] if word.startswith("-X=") else words[position + 1] if word == "-X" and \
            position + 1 < len(words) else None
        if item and "=" in item:
            name, _, value = item.partition("=")
            package, _, variable = name.rpartition(".")
            if _ARGO_PACKAGE_RE.search(package):
                stamps[variable] = value
    if "version" not in stamps:
        return None
    commit, tag, state = stamps.get("gitCommit", ""), stamps.get("gitTag", ""), stamps.get("gitTreeState", "")
    if commit and tag and state == "clean":
        return tag
    if len(commit) >= 7:
        return f"{stamps['version']}+{commit[:7]}" + ("" if state == "clean" else ".dirty")
    return f"{stamps['version']}+unknown"


def _uvarint_bytes(data, position: int) -> tuple[bytes, int]:
    """A uvarint length, then that many bytes (encoding/binary's Uvarint)."""
    length = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return bytes(data[position:position + length]), position + length
        shift += 7
    return b"", position


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    return text


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
    if choice == AUTO:
        return {tag: compiled_or_upstream(matrix, tag, output=output, go=go, argo_git=argo_git, sevenzip=sevenzip_exe,
                                          client_factory=client_factory, say=say) for tag in tags}
    hints = {a.tag: a.go for a in matrix.argo}
    return {tag: compiled(tag, output=output, go=go, argo_git=argo_git, sevenzip=sevenzip_exe, say=say,
                          go_hint=hints.get(tag)) for tag in tags}
