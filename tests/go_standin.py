"""A stand-in ``go`` command of a given version that records how it was run, for the toolchain-switch tests.

No Go but Debian's 1.19 is installed here, and a real switch downloads a toolchain (no network here).
This program is written for the tests (constructed); what it does follows golang/go, read from:

- ``src/cmd/go/internal/toolchain/select.go``, ``Select``: ``GOTOOLCHAIN`` is ``local`` (run this Go),
  ``auto``/``path`` (read go.mod's ``go`` line and switch when it is newer), ``<name>`` (run exactly that
  toolchain: go.mod is not read for the choice) or ``<name>+auto``/``<name>+path``; anything else is
  ``go: invalid GOTOOLCHAIN "..."``. A go.mod language version of 1.21 or later (``1.22``) names its first
  release (``go1.22.0``).
- the same file, ``Exec``: a toolchain other than this Go's is looked up on PATH, then (not for ``path``)
  downloaded as the module ``golang.org/toolchain@v0.0.1-<name>.<goos>-<goarch>`` through GOPROXY. Failures,
  as Go words them: ``go: download <name> for linux/amd64: toolchain not available`` (the proxy has no such
  toolchain), ``go: download <name>: <error>`` otherwise (here: ``GOPROXY=off``, as ``modfetch`` says
  ``module lookup disabled by GOPROXY=off``). The download is announced on stderr once, then cached.
- ``src/cmd/go/internal/gover/toolchain.go``, ``TooNewError``: the Go that runs refuses a go.mod newer than
  itself: ``go: go.mod requires go >= 1.26.5 (running go 1.22.12; GOTOOLCHAIN=local)``.

After the choice, every run appends one JSON line to the log: its argv, working directory, the build
environment it saw (GOTOOLCHAIN, GOOS, GOARCH, CGO_ENABLED, GOFLAGS) and which toolchain ran. ``version``
prints ``go version <toolchain> linux/amd64``; ``list`` prints nothing; ``mod vendor`` writes
``vendor/modules.txt``; ``build -o FILE`` writes a constructed PE32+ x86-64 console executable (headers
only) that names the toolchain that "built" it.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

SCRIPT = r'''#!{python}
import json, os, re, struct, sys
from pathlib import Path

OWN = {version!r}
LOG = {log!r}
CACHE = {cache!r}
UNAVAILABLE = {unavailable!r}
EXE = {exe!r}


def key(v):
    v = v[2:] if v.startswith("go") else v
    parts = [int(p) for p in re.match(r"\d+(?:\.\d+)*", v).group(0).split(".")]
    return parts + [0] * (3 - len(parts))


def fail(message):
    sys.stderr.write("go: " + message + "\n")
    sys.exit(1)


def go_mod_version():
    folder = Path.cwd()
    for candidate in (folder, *folder.parents):
        if (candidate / "go.mod").is_file():
            found = re.search(r"(?m)^go\s+(\S+)", (candidate / "go.mod").read_text())
            return found.group(1) if found else None
    return None


setting = os.environ.get("GOTOOLCHAIN", "auto")
chosen, mode = OWN, setting
if setting not in ("auto", "path"):
    minimum, plus, mode = setting.partition("+")[0], "+" in setting, setting.partition("+")[2]
    if minimum != "local":
        if not re.fullmatch(r"go1(\.\d+){{1,2}}(rc\d+)?", minimum):
            fail(f'invalid GOTOOLCHAIN "{{setting}}"')
        chosen = minimum
    if plus and mode not in ("auto", "path"):
        fail(f'invalid GOTOOLCHAIN "{{setting}}": only version suffixes are +auto and +path')
if mode in ("auto", "path"):
    wanted = go_mod_version()
    if wanted and key(wanted) > key(chosen):
        chosen = "go" + wanted + (".0" if re.fullmatch(r"\d+\.\d+", wanted) and key(wanted) >= key("1.21") else "")
if chosen != OWN:
    if mode == "path":
        fail(f'cannot find "{{chosen}}" in PATH')
    marker = Path(CACHE) / chosen
    if not marker.exists():
        if os.environ.get("GOPROXY", "") == "off":
            fail(f"download {{chosen}}: golang.org/toolchain@v0.0.1-{{chosen}}.linux-amd64: "
                 "module lookup disabled by GOPROXY=off")
        if chosen in UNAVAILABLE:
            fail(f"download {{chosen}} for linux/amd64: toolchain not available")
        sys.stderr.write(f"go: downloading {{chosen}} (linux/amd64)\n")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("constructed: a fetched toolchain\n")

args = sys.argv[1:]
with open(LOG, "a") as log:
    log.write(json.dumps({{"argv": args, "cwd": os.getcwd(), "ran": chosen,
                          "env": {{k: os.environ.get(k) for k in ("GOTOOLCHAIN", "GOOS", "GOARCH", "CGO_ENABLED",
                                                                  "GOFLAGS", "GOPROXY")}}}}) + "\n")
if args[:1] == ["version"]:
    print(f"go version {{chosen}} linux/amd64")
    sys.exit(0)
wanted = go_mod_version()
if wanted and key(wanted) > key(chosen):
    fail(f"go.mod requires go >= {{wanted}} (running go {{chosen[2:]}}; GOTOOLCHAIN={{setting}})")
if args[:1] == ["list"]:
    sys.exit(0)
if args[:2] == ["mod", "vendor"]:
    Path("vendor").mkdir(exist_ok=True)
    Path("vendor/modules.txt").write_text("# constructed by the stand-in go\n")
    sys.exit(0)
if args[:1] == ["build"] and "-o" in args:
    out = Path(args[args.index("-o") + 1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes.fromhex(EXE) + f"built by {{chosen}}".encode())
    sys.exit(0)
fail(f"stand-in go: unsupported command {{' '.join(args)}}")
'''


def console_exe() -> bytes:
    """A PE32+ x86-64 console executable's headers (constructed): what compile's check accepts."""
    head = bytearray(512)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", head, 0x84, 0x8664, 3, 0, 0, 0, 240, 0x0022)
    struct.pack_into("<H", head, 0x98, 0x20B)
    struct.pack_into("<H", head, 0x98 + 68, 3)
    return bytes(head)


@dataclass(frozen=True)
class StandInGo:
    folder: Path  # holds the `go` program: put it first on PATH
    log: Path

    def runs(self) -> list[dict]:
        """Every run so far: argv, cwd, env, and the toolchain that ran."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def make_go(folder: Path, version: str, unavailable: tuple[str, ...] = ()) -> StandInGo:
    """A ``go`` of ``version`` (``go1.22.12``) in ``folder``; ``unavailable``: toolchains its proxy lacks."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "go-runs.jsonl"
    program = folder / "go"
    program.write_text(SCRIPT.format(python=sys.executable, version=version, log=str(log),
                                     cache=str(folder / "toolchains"), unavailable=list(unavailable),
                                     exe=console_exe().hex()))
    program.chmod(0o755)
    return StandInGo(folder, log)
