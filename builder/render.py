"""Render: Jinja templates in dockerfiles/ -> one Dockerfile per target.

Values reach a template only through ``_context``, which validates each of them (image
references, tags, versions, builds): a hostile matrix value (a newline, ``{{``, a quote, a shell
metacharacter) is bad input before anything is written. Jinja runs with ``StrictUndefined`` (a
missing value is an error, never an empty string) and a ``finalize`` hook that refuses any line
break inside an interpolated value, so no value can start a Dockerfile instruction of its own.
"""

from __future__ import annotations

import difflib
import filecmp
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
from packaging.version import Version

from . import compat
from .errors import InputError
from .files import write_atomically
from .matrix import ARGO_TAG_RE, GO_VERSION_RE, Matrix
from .plan import PlannedTarget
from .reference import Reference

TEMPLATES = Path(__file__).resolve().parent.parent / "dockerfiles"
WINDOWS_TEMPLATE = "Dockerfile.windows.j2"
LINUX_TEMPLATE = "Dockerfile.linux.j2"
DOCKERFILE_NAME = {"windows": "Dockerfile.windows", "linux": "Dockerfile.linux"}

# The variants of Dockerfile.windows (``--variant``). COPY: argoexec.exe comes with the build context
# (cross-compiled on Linux, upstream's, or given); nothing RUNs but the optional version check.
# WINDOWS_SOURCE: upstream's way, compiling inside the target's servercore with Chocolatey's Go.
COPY = "copy"
WINDOWS_SOURCE = "windows-source"
VARIANTS = (COPY, WINDOWS_SOURCE)

# PATH of the final image, set with ENV (nothing RUNs SETX). Windows' own folders must be listed:
# ENV replaces the value rather than extending the machine PATH. Written with doubled backslashes
# because the backslash is the Dockerfile escape character.
WINDOWS_PATH = r"C:\app;C:\Windows\System32;C:\Windows"

# Upstream fact (docs/argo.md): the `argoexec` target stage and the GIT_* build
# args exist since v3.4; older releases had another image layout (kubectl, jq, docker.exe, git)
# that this template does not build.
MIN_ARGO = Version("3.4.0")
_GO_DIRECTIVE_RE = re.compile(r"^go\s+(1\.\d+(?:\.\d+)?)\s*(?://.*)?$", re.MULTILINE | re.ASCII)



@dataclass(frozen=True)
class Rendered:
    target_id: str
    filename: str
    text: str


def _reference(value: str, what: str) -> str:
    """Validate ``repo[:tag][@sha256:...]``: the only image references a template may hold."""
    Reference.parse(value, strict=True, what=what)
    return value


def _checked(pattern: re.Pattern, value: str, what: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise InputError(f"{what}: {value!r} is not valid; expected {expected}")
    return value


def _no_line_breaks(value: object) -> object:
    # Defence in depth: whatever reaches the template, no value may span lines.
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise InputError(f"refusing to render a value with a line break: {value!r}")
    return value


def _environment(templates: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        finalize=_no_line_breaks,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Dockerfiles, not HTML; values are validated instead
    )


def banner(template: str, target_id: str) -> str:
    return f"# GENERATED - DO NOT EDIT: rendered from dockerfiles/{template} for {target_id} by `invoke render`."


def go_directive(go_mod: str) -> str:
    """The Go version of a go.mod's ``go`` directive (``go 1.26.5``): what the Argo tag builds with."""
    match = _GO_DIRECTIVE_RE.search(go_mod)
    if not match:
        raise InputError("go.mod has no `go 1.N[.P]` directive; pass the Go version in matrix.yaml (argo[].go)")
    return match.group(1)


def windows_context(matrix: Matrix, planned: PlannedTarget, variant: str = COPY, go_version: str | None = None,
                    sevenzip: bool = False) -> dict[str, object]:
    """The validated values of one Windows Dockerfile. ``go_version`` (from the tag's go.mod, when the
    source tree is at hand) wins over the matrix's ``go``. ``sevenzip``: the context has a 7za.exe."""
    target = planned.target
    if variant not in VARIANTS:
        raise InputError(f"--variant {variant}: expected one of: {', '.join(VARIANTS)}")
    can_run_base = planned.build != compat.BUILD_NONE
    if variant == WINDOWS_SOURCE and not can_run_base:
        raise InputError(f"{target.id}: the windows-source variant RUNs steps in {target.release.name}'s servercore, "
                         f"and {planned.reason}; use the copy variant (a binary compiled on Linux)")
    argo = target.argo
    if argo.version < MIN_ARGO:
        raise InputError(f"{target.id}: Argo {argo.tag} is older than v{MIN_ARGO}, whose Windows image layout "
                         "this template builds; remove it from matrix.yaml or build it by hand")
    go_version = go_version or argo.go
    if variant == WINDOWS_SOURCE and go_version is None:
        raise InputError(f"{target.id}: matrix.yaml argo {argo.tag} has no `go` version, needed to build "
                         "from source; add the go directive of its go.mod, or use the copy variant")
    servercore = matrix.base_image(target.windows, "servercore")
    return {
        "banner": banner(WINDOWS_TEMPLATE, target.id),
        "variant": variant,
        "sevenzip": bool(sevenzip) and variant == COPY,
        "toolchain_image": _reference(matrix.source_builder(target.windows), f"{target.id}: source_builder"),
        "argo_tag": _checked(ARGO_TAG_RE, argo.tag, f"{target.id}: argo version", "vX.Y.Z"),
        "go_version": _checked(GO_VERSION_RE, go_version, f"{target.id}: go", "1.N.P") if go_version else "",
        "servercore_image": _reference(servercore, f"{target.id}: servercore"),
        "nanoserver_image": _reference(matrix.base_image(target.windows, "nanoserver"), f"{target.id}: nanoserver"),
        "windows_path": WINDOWS_PATH.replace("\\", "\\\\"),
        "os_version": target.windows.build.base,
        "run_version": can_run_base,
        "no_run_reason": "" if can_run_base else _short_reason(planned),
    }


def _short_reason(planned: PlannedTarget) -> str:
    if planned.host_build is not None:
        return f"host {planned.host_build.base}"
    return "no runner in matrix.yaml can run it"


def linux_context(target_id: str, base_image: str, run_version: bool = True) -> dict[str, object]:
    return {
        "banner": banner(LINUX_TEMPLATE, target_id),
        "base_image": _reference(base_image, f"{target_id}: base image"),
        "run_version": run_version,
    }


def render_windows(matrix: Matrix, planned: PlannedTarget, variant: str = COPY, go_version: str | None = None,
                   templates: Path = TEMPLATES, sevenzip: bool = False) -> Rendered:
    context = windows_context(matrix, planned, variant, go_version, sevenzip)
    text = _environment(templates).get_template(WINDOWS_TEMPLATE).render(context)
    return Rendered(planned.target.id, DOCKERFILE_NAME["windows"], text)


def render_linux(target_id: str, base_image: str, run_version: bool = True,
                 templates: Path = TEMPLATES) -> Rendered:
    text = _environment(templates).get_template(LINUX_TEMPLATE).render(
        linux_context(target_id, base_image, run_version))
    return Rendered(target_id, DOCKERFILE_NAME["linux"], text)


def render_all(matrix: Matrix, plan: list[PlannedTarget], variant: str = COPY,
               sevenzip: bool = False) -> list[Rendered]:
    """Render every planned target (Windows or Linux flavour); validation of all of them happens before
    any file is written."""
    return [render_windows(matrix, planned, variant, sevenzip=sevenzip) if planned.target.is_windows
            else render_linux(planned.target.id, planned.base_image) for planned in plan]


def write(rendered: list[Rendered], out: Path) -> list[Path]:
    """Write ``out/<target-id>/Dockerfile.*``; nothing at all when one of them is a symbolic link."""
    for item in rendered:
        _refuse_link(out / item.target_id)
        _refuse_link(out / item.target_id / item.filename)
    paths = []
    for item in rendered:
        folder = out / item.target_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / item.filename
        write_atomically(path, item.text)  # replaces the file; a link made meanwhile is replaced, not followed
        paths.append(path)
    return paths


def _refuse_link(path: Path) -> None:
    # Writing through a link overwrites whatever it points at (a checkout can carry such a link in build/
    # or dockerfiles/); the folders render writes are its own, so a link there is refused, not followed.
    if path.is_symlink():
        raise InputError(f"{path}: a symbolic link; render writes no file through a link (it would overwrite "
                         "what the link points at): remove the link, or write elsewhere")


def check(rendered: list[Rendered], committed: Path) -> list[str]:
    """Compare a fresh render with the committed tree; return unified diffs (empty when equal).

    Target folders in ``committed`` that the render no longer produces count as differences too.
    """
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        write(rendered, fresh)
        diffs = []
        expected = {(r.target_id, r.filename) for r in rendered}
        for target_id, filename in sorted(expected):
            new, old = fresh / target_id / filename, committed / target_id / filename
            if old.exists() and filecmp.cmp(new, old, shallow=False):
                continue
            old_lines = old.read_text(encoding="utf-8").splitlines(keepends=True) if old.exists() else []
            diffs.append("".join(difflib.unified_diff(
                old_lines, new.read_text(encoding="utf-8").splitlines(keepends=True),
                fromfile=f"committed/{target_id}/{filename}", tofile=f"rendered/{target_id}/{filename}")))
        for stale in sorted(committed.glob("*/Dockerfile.*")):
            if (stale.parent.name, stale.name) not in expected:
                diffs.append(f"--- committed/{stale.parent.name}/{stale.name}\n+++ (no longer rendered: remove it)\n")
        return diffs


def replace_tree(rendered: list[Rendered], committed: Path) -> list[Path]:
    """Write the committed tree: remove rendered folders the matrix no longer has, write the rest."""
    expected = {r.target_id for r in rendered}
    stale = []
    for folder in sorted(committed.iterdir()) if committed.exists() else []:
        if folder.is_dir() and any(folder.glob("Dockerfile.*")) and folder.name not in expected:
            _refuse_link(folder)  # before anything is removed or written
            stale.append(folder)
    for item in rendered:
        _refuse_link(committed / item.target_id)
        _refuse_link(committed / item.target_id / item.filename)
    for folder in stale:
        shutil.rmtree(folder)
    return write(rendered, committed)
