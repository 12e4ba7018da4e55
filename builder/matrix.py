"""matrix.yaml: load, validate, and turn into frozen values.

All the data that changes lives in matrix.yaml (Windows releases, Argo versions, runners,
registries, mirrors); this module is the only reader. Every problem is reported as one line,
``matrix.yaml:LINE: key.path: what is wrong, what is expected`` (exit code 2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from . import compat
from .compat import WindowsBuild
from .errors import InputError, MatrixError
from .files import FileRefused, read_small_text
from .lock import ARGO_TAG_RE, GO_VERSION_RE, Lock, LockedBase, chosen_lock, read_lock
from .reference import COMPONENT, DOMAIN, REPO_RE, TAG_RE, Reference
from .reference import split as split_reference
from .secrets import hide_userinfo
from .yamlsrc import LocatedDict, LocatedList, join_path, load_located

SCHEMA = 1
DEFAULT_MATRIX = Path(__file__).resolve().parent.parent / "matrix.yaml"
# The project's matrix is 5 KB; a matrix of every Windows release and Argo version ever would not reach this.
MAX_MATRIX_BYTES = 1 << 20

STATUSES = ("supported", "end-of-life")

# Tags and repositories: the grammar of image references (reference.py).
# Every pattern ends with \Z, never $: `$` also matches before a final newline, so "ltsc2022\n" would pass.
# A mirror source: a registry host, optionally with a path prefix (mcr.microsoft.com, quay.io/argoproj).
MIRROR_FROM_RE = re.compile(rf"^{DOMAIN}(?:/{COMPONENT})*\Z", re.ASCII)
RELEASE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z", re.ASCII)
RUNNER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}\Z", re.ASCII)
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z", re.ASCII)
# ARGO_TAG_RE (an Argo release tag) and GO_VERSION_RE (a go directive) come from builder/lock.py.
# owner/name on GitHub (its rules: owner of letters, digits and single hyphens; names also with . and _).
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}\Z")
DEFAULT_ARGO_REPOSITORY = "argoproj/argo-workflows"


@dataclass(frozen=True)
class WindowsRelease:
    """A Windows release that has its own container base images (nanoserver/servercore tags)."""

    name: str
    build: WindowsBuild
    nanoserver: str
    servercore: str
    end_of_support: dt.date
    status: str
    aliases: tuple[str, ...] = ()
    extended_end: dt.date | None = None
    build_runner: str | None = None
    stable_abi: bool = False  # on hcsshim's list of stable-ABI LTSC releases (see compat)
    source_builder: str | None = None  # the windows-source variant's toolchain base (default: servercore)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class LinuxBase:
    """A Linux flavour built from a prebuilt binary (hybrid tags, and the test suite's Linux engine)."""

    name: str
    platform: str
    base_image: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class HostRelease:
    """A node OS the compatibility table has a column for (hosts need not have images of their own)."""

    name: str
    label: str
    build: WindowsBuild
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class ArgoVersion:
    tag: str
    go: str | None = None
    bases: tuple[str, ...] | None = None
    commit: str | None = None  # the tag's commit, when matrix.lock.json locks it

    @property
    def version(self) -> Version:
        return Version(self.tag.lstrip("v"))


@dataclass(frozen=True)
class ArgoReleases:
    """``argo_releases``: which upstream releases `invoke refresh` locks (the newest patch of each of the
    ``newest_minors`` newest minor series whose versions match ``versions``)."""

    repository: str  # owner/name on GitHub
    versions: str  # a PEP 440 specifier set, e.g. ">=3.7"
    newest_minors: int
    prereleases: bool = False

    @property
    def specifier(self) -> SpecifierSet:
        return SpecifierSet(self.versions)


@dataclass(frozen=True)
class Runner:
    """A CI runner: its host build, the isolation modes it offers, the labels that select it."""

    name: str
    host_build: WindowsBuild
    isolation: tuple[str, ...]
    labels: tuple[str, ...]
    hosted: bool = False


@dataclass(frozen=True)
class Registries:
    windows: str
    argoexec: str
    image: str
    destinations: dict[str, str] = field(default_factory=dict)
    publish: str | None = None  # the repository published images and the table point to (a destination resolved)


@dataclass(frozen=True)
class Matrix:
    file: str
    releases: tuple[WindowsRelease, ...]
    argo: tuple[ArgoVersion, ...]
    runners: tuple[Runner, ...]
    registries: Registries
    mirrors: dict[str, str]
    linux: tuple[LinuxBase, ...] = ()
    hosts: tuple[HostRelease, ...] = ()
    argo_releases: ArgoReleases | None = None
    lock: Lock | None = None  # matrix.lock.json, when there is one (see load_matrix)
    # evidence.trusted_keys: (the file as written, its line); relative to ``folder``, the matrix file's folder
    trusted_keys: tuple[tuple[str, int], ...] = ()
    folder: str = "."

    def trusted_key_files(self) -> tuple[tuple[str, Path, str], ...]:
        """(name, path, where) of each trusted public key file: ``where`` names the matrix file, line and key."""
        return tuple((name, Path(self.folder) / name, f"{self.file}:{line}: evidence.trusted_keys[{index}] {name}")
                     for index, (name, line) in enumerate(self.trusted_keys))

    def host(self, name: str) -> HostRelease | None:
        wanted = name.lower()
        return next((h for h in self.hosts if wanted in (n.lower() for n in h.names)), None)

    def release(self, name: str) -> WindowsRelease | None:
        wanted = name.lower()
        for release in self.releases:
            if wanted in (n.lower() for n in release.names):
                return release
        return None

    def base(self, name: str) -> WindowsRelease | LinuxBase | None:
        """A Windows release (by name or alias, or by the name or build of the host column of its build:
        ``2019`` and ``10.0.17763`` are 1809, as for ``--node``) or a Linux flavour, by the name --base takes."""
        found = self.release(name) or next((b for b in self.linux if b.name.lower() == name.lower()), None)
        if found is not None:
            return found
        host = self.host(name)
        text = host.build.base if host else name.strip()
        return next((r for r in self.releases if r.build.base == text or str(r.build) == text), None)

    def runner(self, name: str) -> Runner | None:
        return next((r for r in self.runners if r.name == name), None)

    @property
    def stable_abi(self) -> tuple[int, ...]:
        """The builds of the stable-ABI LTSC releases, ascending: the floors of compat's window."""
        return tuple(sorted(r.build.build for r in self.releases if r.stable_abi))

    @property
    def newest_argo(self) -> ArgoVersion:
        return max(self.argo, key=lambda a: a.version)

    def source_builder(self, release: WindowsRelease) -> str:
        """The base the windows-source variant installs its toolchain on: the release's servercore, unless
        the matrix names another image of the same build (``source_builder``)."""
        if release.source_builder:
            return self._pinned(release.source_builder)
        return self.base_image(release, "servercore")

    def base_key(self, release: WindowsRelease, flavour: str = "nanoserver") -> str:
        """The unmirrored tag reference of a base, ``<windows>/<flavour>:<tag>``: its key in matrix.lock.json."""
        tag = release.nanoserver if flavour == "nanoserver" else release.servercore
        return f"{self.registries.windows}/{flavour}:{tag}"

    def base_tag(self, release: WindowsRelease, flavour: str = "nanoserver") -> str:
        """The base's tag reference, through a mirror if one is set: for labels and display."""
        return self.mirrored(self.base_key(release, flavour))

    def locked_base(self, release: WindowsRelease, flavour: str = "nanoserver") -> LockedBase | None:
        """The digest and os.version matrix.lock.json pins the base to, or None (no lock, or not in it)."""
        return self.lock.bases.get(self.base_key(release, flavour)) if self.lock is not None else None

    def base_image(self, release: WindowsRelease, flavour: str = "nanoserver") -> str:
        """Where a base is read from: ``<windows>/<flavour>@sha256:...`` when matrix.lock.json pins it (no tag,
        so every engine and parser takes it), else ``<windows>/<flavour>:<tag>``; through a mirror if one is set."""
        return self._pinned(self.base_key(release, flavour))

    def _pinned(self, key: str) -> str:
        locked = self.lock.bases.get(key) if self.lock is not None else None
        if locked is None:
            return self.mirrored(key)
        name, _, _ = split_reference(key)
        return self.mirrored(f"{name}@{locked.digest}")

    def mirrored(self, reference: str) -> str:
        """Rewrite ``reference`` through the longest matching ``mirrors`` prefix (air-gapped sites)."""
        for source in sorted(self.mirrors, key=len, reverse=True):
            if reference == source or reference.startswith(source + "/"):
                return self.mirrors[source] + reference[len(source):]
        return reference


# ---------------------------------------------------------------------------------------------
# Validation helpers. Each raises MatrixError naming file, line and key path.


class _Checker:
    def __init__(self, file: str):
        self.file = file

    def fail(self, line: int | None, path: str, problem: str) -> NoReturn:
        raise MatrixError(self.file, line, path, problem)

    def mapping(self, value: Any, path: str, line: int, required: tuple[str, ...],
                optional: tuple[str, ...] = ()) -> LocatedDict:
        if not isinstance(value, LocatedDict):
            self.fail(line, path, f"expected a mapping of {', '.join(required + optional)}, got {_kind(value)}")
        known = required + optional
        for key in value:
            if key not in known:
                self.fail(value.key_lines[key], join_path(path, key),
                          f"unknown key; expected one of: {', '.join(known)}")
        for key in required:
            if key not in value:
                self.fail(value.line, join_path(path, key), "missing; this key is required")
        return value

    def sequence(self, value: Any, path: str, line: int, what: str, allow_empty: bool = False) -> LocatedList:
        if not isinstance(value, LocatedList):
            self.fail(line, path, f"expected a list of {what}, got {_kind(value)}")
        if not value and not allow_empty:
            self.fail(line, path, f"empty; expected at least one entry ({what})")
        return value

    def string(self, value: Any, path: str, line: int, pattern: re.Pattern | None = None,
               expected: str = "") -> str:
        if isinstance(value, bool) or value is None or not isinstance(value, str):
            hint = f' (quote it: "{value}")' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            self.fail(line, path, f"expected a string{': ' + expected if expected else ''}, got {_kind(value)}{hint}")
        if pattern is not None and not pattern.match(value):
            self.fail(line, path, f"{hide_userinfo(value)!r} is not valid; expected {expected}")
        return value

    def date(self, value: Any, path: str, line: int) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(line, path, f"{value!r} is not a date; expected YYYY-MM-DD")
        raise AssertionError  # unreachable

    def tagged_image(self, value: Any, path: str, line: int) -> str:
        image = self.string(value, path, line)
        try:
            tagged = Reference.parse(image, strict=True).digest is None
        except InputError:
            tagged = False
        if not tagged:
            self.fail(line, path, f"{hide_userinfo(image)!r} is not a tagged image reference; expected "
                      "registry/repository:tag")
        return image

    def build(self, value: Any, path: str, line: int) -> WindowsBuild:
        text = self.string(value, path, line, expected="a Windows build like 10.0.17763")
        try:
            return WindowsBuild.parse(text)
        except ValueError as exc:
            self.fail(line, path, str(exc))
        raise AssertionError  # unreachable

    def strings(self, value: Any, path: str, line: int, pattern: re.Pattern, expected: str,
                allow_empty: bool = False) -> tuple[str, ...]:
        items = self.sequence(value, path, line, expected, allow_empty=allow_empty)
        out = []
        for index, item in enumerate(items):
            item_path = join_path(path, index)
            text = self.string(item, item_path, items.item_lines[index], pattern, expected)
            if text in out:
                self.fail(items.item_lines[index], item_path, f"{text!r} is listed twice; list it once")
            out.append(text)
        return tuple(out)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


_KEY_FILE_RE = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_./-]{1,200}$")


def _line_of(mapping: LocatedDict, key: str) -> int:
    return mapping.key_lines.get(key, mapping.line)


def _key_at(mapping: LocatedDict, path: str, key: str) -> tuple[str, int]:
    """(key path, line) of ``key`` in ``mapping``, for error messages."""
    return join_path(path, key), _line_of(mapping, key)


# ---------------------------------------------------------------------------------------------


def load_matrix(path: str | Path | None = None, lock: str | Path | bool | None = None) -> Matrix:
    """Read and validate a matrix file (default: the project's matrix.yaml), and its lock.

    The lock is, unless ``lock`` names one (a path, or False for none): the file ``ARGOEXEC_BUILDER_LOCK``
    names (``none`` for none), else ``matrix.lock.json`` beside the matrix file if there is one."""
    matrix = _load_matrix_file(path)
    file_path = Path(path) if path is not None else DEFAULT_MATRIX
    chosen = chosen_lock(file_path, matrix.file, lock)
    if chosen is None:
        return matrix
    found = read_lock(*chosen)
    return with_lock(matrix, found) if found is not None else matrix


def with_lock(matrix: Matrix, lock: Lock) -> Matrix:
    """The matrix with its lock: bases pinned to the locked digests, and the lock's Argo releases built
    (each keeps the ``bases`` the matrix gives the same version). A locked base of another build than its
    release is refused: the matrix changed since the refresh.

    A base the matrix names that the lock does not pin (a lock edited by hand, or older than the matrix)
    would be built from its moving tag: a warning on stderr, and under ``CI=true`` an error (exit 2)."""
    missing = []
    for release in matrix.releases:
        for flavour in ("nanoserver", "servercore"):
            key = matrix.base_key(release, flavour)
            locked = lock.bases.get(key)
            if locked is None:
                missing.append(key)
            if locked is not None and compat.build_number(locked.os_version) != release.build.build:
                raise MatrixError(lock.file, None, f"bases[\"{key}\"].os_version",
                                  f"{locked.os_version} is not of build {release.build} of release {release.name}; "
                                  "run `invoke refresh` to write it again")
        if release.source_builder and release.source_builder not in lock.bases:
            missing.append(release.source_builder)
    if missing:
        keys = list(dict.fromkeys(missing))
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        problem = (f"no pin for {len(keys)} base(s) the matrix names ({shown}); they would be built from their "
                   "moving tags; run `invoke refresh` to pin them")
        if os.environ.get("CI", "").strip().lower() == "true":
            raise MatrixError(lock.file, None, "bases", problem)
        print(f"warning: {lock.file}: {problem}", file=sys.stderr)
    argo = matrix.argo
    if lock.argo is not None:
        bases = {a.tag: a.bases for a in matrix.argo}
        argo = tuple(ArgoVersion(a.version, a.go, bases.get(a.version), a.commit) for a in lock.argo)
    return dataclasses.replace(matrix, argo=argo, lock=lock)


def _load_matrix_file(path: str | Path | None) -> Matrix:
    file_path = Path(path) if path is not None else DEFAULT_MATRIX
    display = str(path) if path is not None else "matrix.yaml"
    try:
        text = read_small_text(file_path, MAX_MATRIX_BYTES)
    except FileNotFoundError:
        raise MatrixError(display, None, "", "no such file; pass --matrix PATH to an existing matrix.yaml") from None
    except FileRefused as exc:  # a FIFO would hang the run, /dev/zero or a huge file would eat the memory
        raise MatrixError(display, None, "", f"{exc}; pass --matrix PATH to a matrix.yaml file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise MatrixError(display, None, "", f"cannot read it ({reason}); check the file") from None
    return dataclasses.replace(parse_matrix(text, display), folder=str(file_path.parent))


def parse_matrix(text: str, file: str = "matrix.yaml") -> Matrix:
    check = _Checker(file)
    root = load_located(text, file)
    if root is None:
        check.fail(1, "", "the file is empty; expected the keys schema, windows, argo, runners, registries")
    root = check.mapping(root, "", 1, ("schema", "windows", "argo", "runners", "registries"),
                         ("mirrors", "linux", "hosts", "argo_releases", "evidence"))

    schema = root["schema"]
    if schema != SCHEMA or isinstance(schema, bool):
        check.fail(_line_of(root, "schema"), "schema", f"{schema!r} is not supported; expected {SCHEMA}")

    releases = _releases(check, root)
    runners = _runners(check, root)
    argo = _argo(check, root, releases)
    registries = _registries(check, root)
    mirrors = _mirrors(check, root)
    linux = _linux(check, root, releases)
    hosts = _hosts(check, root, releases)
    argo_releases = _argo_releases(check, root)
    matrix = Matrix(file, tuple(releases), tuple(argo), tuple(runners), registries, mirrors, tuple(linux),
                    tuple(hosts), argo_releases, trusted_keys=_evidence(check, root))
    _check_build_runners(check, root, matrix)
    return matrix


def _releases(check: _Checker, root: LocatedDict) -> list[WindowsRelease]:
    items = check.sequence(root["windows"], "windows", _line_of(root, "windows"), "Windows releases")
    releases: list[WindowsRelease] = []
    seen_names: dict[str, str] = {}
    seen_builds: dict[int, str] = {}
    for index, item in enumerate(items):
        path, line = join_path("windows", index), items.item_lines[index]
        entry = check.mapping(item, path, line,
                              ("name", "build", "nanoserver", "servercore", "end_of_support", "status"),
                              ("aliases", "extended_end", "build_runner", "stable_abi", "source_builder"))
        at = functools.partial(_key_at, entry, path)

        name = check.string(entry["name"], *at("name"), RELEASE_NAME_RE,
                            "a release name like 1809, 20H2 or ltsc2022")
        aliases: tuple[str, ...] = ()
        if "aliases" in entry:
            aliases = check.strings(entry["aliases"], *at("aliases"), RELEASE_NAME_RE,
                                    "release names like ltsc2019", allow_empty=True)
        for alias_index, candidate in enumerate((name, *aliases)):
            key_path, key_line = at("name") if alias_index == 0 else at("aliases")
            if candidate.lower() in seen_names:
                check.fail(key_line, key_path,
                           f"release {candidate!r} is already declared by {seen_names[candidate.lower()]}; "
                           "each release name and alias must be unique")
            seen_names[candidate.lower()] = path
        build = check.build(entry["build"], *at("build"))
        if build.revision is not None:
            check.fail(at("build")[1], at("build")[0],
                       f"{build} has a revision; give 10.0.BUILD only (the revision is read from the base image)")
        if build.build in seen_builds:
            check.fail(at("build")[1], at("build")[0],
                       f"build {build} is already release {seen_builds[build.build]}; list another name "
                       "for the same build under that release's aliases")
        seen_builds[build.build] = name
        nanoserver = check.string(entry["nanoserver"], *at("nanoserver"), TAG_RE,
                                  "an image tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})")
        servercore = check.string(entry["servercore"], *at("servercore"), TAG_RE,
                                  "an image tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})")
        end = check.date(entry["end_of_support"], *at("end_of_support"))
        extended = check.date(entry["extended_end"], *at("extended_end")) if "extended_end" in entry else None
        if extended is not None and extended < end:
            check.fail(at("extended_end")[1], at("extended_end")[0],
                       f"{extended} is before end_of_support {end}; extended support ends later")
        status = check.string(entry["status"], *at("status"))
        if status not in STATUSES:
            check.fail(at("status")[1], at("status")[0], f"{status!r} is not a status; expected one of: "
                       f"{', '.join(STATUSES)}")
        build_runner = None
        if "build_runner" in entry:
            build_runner = check.string(entry["build_runner"], *at("build_runner"), RUNNER_NAME_RE,
                                        "a runner name from runners")
        stable_abi = False
        if "stable_abi" in entry:
            stable_abi = entry["stable_abi"]
            if not isinstance(stable_abi, bool):
                check.fail(at("stable_abi")[1], at("stable_abi")[0],
                           f"{_kind(stable_abi)} is not a boolean; expected true or false")
        source_builder = None
        if "source_builder" in entry:
            source_builder = check.tagged_image(entry["source_builder"], *at("source_builder"))
        releases.append(WindowsRelease(name, build, nanoserver, servercore, end, status, aliases, extended,
                                       build_runner, stable_abi, source_builder))
    return releases


def _runners(check: _Checker, root: LocatedDict) -> list[Runner]:
    items = check.sequence(root["runners"], "runners", _line_of(root, "runners"), "runners")
    runners: list[Runner] = []
    names: set[str] = set()
    label_sets: dict[tuple[str, ...], str] = {}
    for index, item in enumerate(items):
        path, line = join_path("runners", index), items.item_lines[index]
        entry = check.mapping(item, path, line, ("name", "host_build", "isolation", "labels"), ("hosted",))
        at = functools.partial(_key_at, entry, path)

        name = check.string(entry["name"], *at("name"), RUNNER_NAME_RE,
                            "a lowercase runner name like ws2019")
        if name in names:
            check.fail(at("name")[1], at("name")[0], f"runner {name!r} is declared twice; names must be unique")
        names.add(name)
        host_build = check.build(entry["host_build"], *at("host_build"))
        isolation = check.strings(entry["isolation"], *at("isolation"), re.compile(r"^.*\Z"), "isolation modes")
        for i, mode in enumerate(isolation):
            if mode not in compat.ISOLATIONS:
                items_line = entry["isolation"].item_lines[i]
                check.fail(items_line, join_path(at("isolation")[0], i),
                           f"{mode!r} is not an isolation mode; expected one of: {', '.join(compat.ISOLATIONS)}")
        labels = check.strings(entry["labels"], *at("labels"), LABEL_RE, "runner labels like windows-2022")
        key = tuple(sorted(labels))
        if key in label_sets:
            check.fail(at("labels")[1], at("labels")[0],
                       f"the same labels as runner {label_sets[key]!r}; CI could not tell them apart")
        label_sets[key] = name
        hosted = False
        if "hosted" in entry:
            hosted = entry["hosted"]
            if not isinstance(hosted, bool):
                check.fail(at("hosted")[1], at("hosted")[0], f"expected true or false, got {_kind(hosted)}")
            if hosted and compat.HYPERV in isolation:
                # actions/runner-images#183: hosted runners have no nested virtualization.
                check.fail(at("isolation")[1], at("isolation")[0],
                           "hosted runners offer no Hyper-V isolation (no nested virtualization); "
                           "list only process")
        runners.append(Runner(name, host_build, isolation, labels, hosted))
    return runners


def _argo(check: _Checker, root: LocatedDict, releases: list[WindowsRelease]) -> list[ArgoVersion]:
    items = check.sequence(root["argo"], "argo", _line_of(root, "argo"), "Argo versions")
    known = {n.lower(): r.name for r in releases for n in r.names}
    versions: list[ArgoVersion] = []
    seen: set[Version] = set()
    for index, item in enumerate(items):
        path, line = join_path("argo", index), items.item_lines[index]
        entry = check.mapping(item, path, line, ("version",), ("go", "bases"))
        at = functools.partial(_key_at, entry, path)

        tag = check.string(entry["version"], *at("version"), ARGO_TAG_RE, "an Argo release tag like v4.1.2")
        try:
            parsed = Version(tag.lstrip("v"))
        except InvalidVersion:  # pragma: no cover - the pattern admits only valid versions
            check.fail(at("version")[1], at("version")[0], f"{tag!r} is not a version; expected vX.Y.Z")
        if parsed in seen:
            check.fail(at("version")[1], at("version")[0], f"{tag} is listed twice; list each version once")
        seen.add(parsed)
        go = None
        if "go" in entry:
            go = check.string(entry["go"], *at("go"), GO_VERSION_RE, "a Go version like 1.26.5 (quoted if 1.26)")
        bases = None
        if "bases" in entry:
            names = check.strings(entry["bases"], *at("bases"), RELEASE_NAME_RE, "release names from windows")
            for i, base in enumerate(names):
                if base.lower() not in known:
                    check.fail(entry["bases"].item_lines[i], join_path(at("bases")[0], i),
                               f"unknown release {base!r}; expected one of: {', '.join(r.name for r in releases)}")
            bases = tuple(known[b.lower()] for b in names)
        versions.append(ArgoVersion(tag, go, bases))
    return versions


def _registries(check: _Checker, root: LocatedDict) -> Registries:
    line = _line_of(root, "registries")
    entry = check.mapping(root["registries"], "registries", line, ("windows", "argoexec", "image"),
                          ("destinations", "publish"))
    repo_expected = "a repository like mcr.microsoft.com/windows (lowercase path)"
    values = {key: check.string(entry[key], f"registries.{key}", _line_of(entry, key), REPO_RE, repo_expected)
              for key in ("windows", "argoexec", "image")}
    destinations: dict[str, str] = {}
    if "destinations" in entry:
        dest = entry["destinations"]
        if not isinstance(dest, LocatedDict):
            check.fail(_line_of(entry, "destinations"), "registries.destinations",
                       f"expected a mapping of name: repository, got {_kind(dest)}")
        for name, repo in dest.items():
            check.string(name, f"registries.destinations.{name}", dest.key_lines[name], RUNNER_NAME_RE,
                         "a lowercase destination name")
            destinations[name] = check.string(repo, f"registries.destinations.{name}", dest.key_lines[name],
                                              REPO_RE, repo_expected)
    publish = None
    if "publish" in entry:
        key_line = _line_of(entry, "publish")
        name = check.string(entry["publish"], "registries.publish", key_line)
        if name in destinations:
            publish = destinations[name]
        elif "/" in name and REPO_RE.match(name):
            publish = name
        else:
            known = ", ".join(destinations) or "none"
            check.fail(key_line, "registries.publish", f"{hide_userinfo(name)!r} is neither a name from "
                       f"registries.destinations ({known}) nor a REGISTRY/REPO; expected one of them")
    return Registries(values["windows"], values["argoexec"], values["image"], destinations, publish)


def _argo_releases(check: _Checker, root: LocatedDict) -> ArgoReleases | None:
    """``argo_releases``: which upstream releases `invoke refresh` locks."""
    if "argo_releases" not in root:
        return None
    path = "argo_releases"
    entry = check.mapping(root[path], path, _line_of(root, path), ("repository", "versions", "newest_minors"),
                          ("prereleases",))
    at = functools.partial(_key_at, entry, path)
    repository = check.string(entry["repository"], *at("repository"), GITHUB_REPO_RE,
                              "owner/name of a GitHub repository, like argoproj/argo-workflows")
    versions = check.string(entry["versions"], *at("versions"), expected='a PEP 440 specifier set like ">=3.7"')
    try:
        SpecifierSet(versions)
    except InvalidSpecifier:
        check.fail(at("versions")[1], at("versions")[0],
                   f"{versions!r} is not a version specifier; expected a PEP 440 specifier set like \">=3.7\" "
                   "or \">=3.7,<5\"")
    newest = entry["newest_minors"]
    if isinstance(newest, bool) or not isinstance(newest, int) or not 1 <= newest <= 50:
        check.fail(at("newest_minors")[1], at("newest_minors")[0],
                   f"{_kind(newest)} is not a count; expected a whole number from 1 to 50")
    prereleases = entry.get("prereleases", False)
    if not isinstance(prereleases, bool):
        check.fail(at("prereleases")[1], at("prereleases")[0],
                   f"{_kind(prereleases)} is not a boolean; expected true or false")
    return ArgoReleases(repository, versions, newest, prereleases)


def _mirrors(check: _Checker, root: LocatedDict) -> dict[str, str]:
    if "mirrors" not in root or root["mirrors"] is None:
        return {}
    mirrors = root["mirrors"]
    if not isinstance(mirrors, LocatedDict):
        check.fail(_line_of(root, "mirrors"), "mirrors",
                   f"expected a mapping of registry: mirror, got {_kind(mirrors)}")
    out: dict[str, str] = {}
    for source, target in mirrors.items():
        path, line = f"mirrors.{hide_userinfo(source)}", mirrors.key_lines[source]
        if not MIRROR_FROM_RE.match(source):
            check.fail(line, path,
                       f"{hide_userinfo(source)!r} is not a registry; expected a host like mcr.microsoft.com")
        out[source] = check.string(target, path, line, REPO_RE, "a registry and path like reg.local:5000/mcr")
    return out


def _evidence(check: _Checker, root: LocatedDict) -> tuple[tuple[str, int], ...]:
    """``evidence: {trusted_keys: [PEM public key files]}``: whose signed evidence counts (builder/signing.py)."""
    if "evidence" not in root:
        return ()
    entry = check.mapping(root["evidence"], "evidence", _line_of(root, "evidence"), ("trusted_keys",))
    items = check.sequence(entry["trusted_keys"], "evidence.trusted_keys", _line_of(entry, "trusted_keys"),
                           "PEM public key files, relative to the matrix file", allow_empty=True)
    out = []
    for index, item in enumerate(items):
        path, line = join_path("evidence.trusted_keys", index), items.item_lines[index]
        name = check.string(item, path, line, _KEY_FILE_RE, "a relative path to a PEM public key file")
        out.append((name, line))
    return tuple(out)


def _hosts(check: _Checker, root: LocatedDict, releases: list[WindowsRelease]) -> list[HostRelease]:
    """The table's host columns; without a ``hosts`` section, one per Windows release."""
    if "hosts" not in root:
        return [HostRelease(r.name, f"Windows {r.name}", r.build, r.aliases) for r in releases]
    items = check.sequence(root["hosts"], "hosts", _line_of(root, "hosts"), "host releases")
    out: list[HostRelease] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(items):
        path, line = join_path("hosts", index), items.item_lines[index]
        entry = check.mapping(item, path, line, ("name", "label", "build"), ("aliases",))
        at = functools.partial(_key_at, entry, path)
        name = check.string(entry["name"], *at("name"), RELEASE_NAME_RE, "a host name like 2025 or win11")
        label = check.string(entry["label"], *at("label"))
        if not label.strip() or "\n" in label or len(label) > 80:
            check.fail(at("label")[1], at("label")[0], "expected a one-line label of at most 80 characters")
        build = check.build(entry["build"], *at("build"))
        aliases: tuple[str, ...] = ()
        if "aliases" in entry:
            aliases = check.strings(entry["aliases"], *at("aliases"), RELEASE_NAME_RE, "host names",
                                    allow_empty=True)
        for candidate in (name, *aliases):
            if candidate.lower() in seen:
                check.fail(at("name")[1], at("name")[0], f"host {candidate!r} is already declared by "
                           f"{seen[candidate.lower()]}; names and aliases must be unique")
            seen[candidate.lower()] = path
        out.append(HostRelease(name, label, build, aliases))
    return out


PLATFORM_RE = re.compile(r"^linux/(amd64|arm64|arm/v7|ppc64le|s390x)\Z", re.ASCII)


def _linux(check: _Checker, root: LocatedDict, releases: list[WindowsRelease]) -> list[LinuxBase]:
    if "linux" not in root or root["linux"] is None:
        return []
    items = check.sequence(root["linux"], "linux", _line_of(root, "linux"), "Linux flavours", allow_empty=True)
    taken = {n.lower() for r in releases for n in r.names}
    out: list[LinuxBase] = []
    for index, item in enumerate(items):
        path, line = join_path("linux", index), items.item_lines[index]
        entry = check.mapping(item, path, line, ("name", "platform", "base_image"))
        at = functools.partial(_key_at, entry, path)
        name = check.string(entry["name"], *at("name"), RELEASE_NAME_RE, "a flavour name like amd64")
        if name.lower() in taken:
            check.fail(at("name")[1], at("name")[0], f"{name!r} is already a base name; names must be unique")
        taken.add(name.lower())
        platform = check.string(entry["platform"], *at("platform"), PLATFORM_RE, "a platform like linux/amd64")
        image = check.tagged_image(entry["base_image"], *at("base_image"))
        out.append(LinuxBase(name, platform, image))
    return out


def _check_build_runners(check: _Checker, root: LocatedDict, matrix: Matrix) -> None:
    items = root["windows"]
    for index, release in enumerate(matrix.releases):
        if release.build_runner is None:
            continue
        entry = items[index]
        path, line = f"windows[{index}].build_runner", _line_of(entry, "build_runner")
        runner = matrix.runner(release.build_runner)
        if runner is None:
            check.fail(line, path, f"unknown runner {release.build_runner!r}; expected one of: "
                       f"{', '.join(r.name for r in matrix.runners)}")
        method, _, reason = compat.choose_build(runner.host_build, release.build, runner.isolation,
                                                matrix.stable_abi)
        if method == compat.BUILD_NONE:
            check.fail(line, path, f"runner {runner.name} cannot build {release.name}: {reason}; "
                       "pick a runner whose host can run this base")
