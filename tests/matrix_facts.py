"""What the tests know about the project's matrix.yaml, read from it (through builder.matrix.load_matrix()).

Tests whose point is "every base", "every host", "every runner" or "the default Argo version" take
those from here, so that adding a Windows release to matrix.yaml is one entry there and no test
changes. Tests that assert a fact about one release (1909 cannot be built on a 10.0.17763 host)
keep its name: that is a fact under test, not a list of the matrix.

``windows_index``/``windows_key`` find a release's position in the file with PyYAML's plain
``safe_load``, not with the loader under test, for tests that check the key paths errors name.
"""

from __future__ import annotations

import yaml

from builder.matrix import ArgoVersion, HostRelease, Matrix, Runner, WindowsRelease, load_matrix
from tests.cli import ROOT

MATRIX_FILE = ROOT / "matrix.yaml"
TEXT = MATRIX_FILE.read_text(encoding="utf-8")
MATRIX: Matrix = load_matrix()

# Windows releases with images of their own, in the file's order.
RELEASES: tuple[WindowsRelease, ...] = MATRIX.releases
RELEASE_NAMES: tuple[str, ...] = tuple(r.name for r in RELEASES)
# name -> 10.0.BUILD (no revision; the revision is read from the base image).
BUILDS: dict[str, str] = {r.name: r.build.base for r in RELEASES}
NANOSERVER_TAGS: dict[str, str] = {r.name: r.nanoserver for r in RELEASES}
SERVERCORE_TAGS: dict[str, str] = {r.name: r.servercore for r in RELEASES}

# The compatibility table's host columns.
HOSTS: tuple[HostRelease, ...] = MATRIX.hosts
HOST_NAMES: tuple[str, ...] = tuple(h.name for h in HOSTS)

RUNNERS: tuple[Runner, ...] = MATRIX.runners
RUNNER_NAMES: tuple[str, ...] = tuple(r.name for r in RUNNERS)

# Argo versions in the file's order, and the newest (every task's default).
ARGO: tuple[ArgoVersion, ...] = MATRIX.argo
ARGO_TAGS: tuple[str, ...] = tuple(a.tag for a in ARGO)
NEWEST: ArgoVersion = MATRIX.newest_argo
NEWEST_ARGO: str = NEWEST.tag


def release(name: str) -> WindowsRelease:
    found = MATRIX.release(name)
    assert found is not None, f"matrix.yaml has no Windows release {name!r}"
    return found


def target_id(base: str, argo: str = NEWEST_ARGO) -> str:
    """The target id (and image tag) of a Windows base: ``v4.1.2-windows-1809``."""
    return f"{argo}-windows-{base}"


def windows_index(name: str, text: str = TEXT) -> int:
    """The position of release ``name`` under ``windows:`` in a matrix text (independently of builder/)."""
    names = [str(entry["name"]) for entry in yaml.safe_load(text)["windows"]]
    assert name in names, f"no Windows release {name!r} in the matrix text"
    return names.index(name)


def windows_key(name: str, key: str | None = None, text: str = TEXT) -> str:
    """The key path errors name for release ``name``: ``windows[6]`` or ``windows[6].build``."""
    path = f"windows[{windows_index(name, text)}]"
    return f"{path}.{key}" if key else path


# A release that matrix.yaml does not list (nor ever will), newer than every one it does: what tests add
# to a matrix to show that one entry is all a new release needs.
FICTIONAL_NAME = "ltsc2999"
FICTIONAL_BUILD = f"10.0.{max(r.build.build for r in RELEASES) + 10000}"


def with_release(name: str = FICTIONAL_NAME, build: str = FICTIONAL_BUILD, text: str = TEXT,
                 status: str = "supported", stable_abi: bool = False) -> str:
    """A matrix text with one more Windows release at the end of ``windows`` (tags named after it)."""
    entry = (f'  - name: "{name}"\n    build: {build}\n    nanoserver: "{name}"\n    servercore: "{name}"\n'
             f"    end_of_support: 2031-01-01\n    status: {status}\n")
    entry += "    stable_abi: true\n" if stable_abi else ""
    assert text.count("\nargo:\n") == 1, "the matrix text has no top-level argo section to insert before"
    return text.replace("\nargo:\n", "\n" + entry + "\nargo:\n", 1)


def with_host(name: str, build: str, text: str) -> str:
    """A matrix text with one more column (node release) in the table's ``hosts``."""
    assert text.count("\nhosts:\n") == 1, "the matrix text has no top-level hosts section"
    column = f'  - {{name: "{name}", label: "Windows Server {name}", build: {build}}}\n'
    return text.replace("\nhosts:\n", "\nhosts:\n" + column, 1)
