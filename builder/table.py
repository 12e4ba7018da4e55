"""The compatibility table: which argoexec image runs on which Windows node, how, and how we know.

Rows are images (Argo version x Windows base), columns are host releases (``hosts`` in the
matrix). Each cell holds, for process and for Hyper-V isolation, one state:

- ``verified-pass`` / ``verified-fail``: the newest smoke checks on a host of that build with that
  isolation (with their date, runner, engine version, image digest and checks);
- ``predicted``: the rules (``compat``) say it runs and nobody has tried;
- ``cannot-run``: the rules say it does not, with the rule.

A newer result replaces an older one. A verified result that contradicts the rules is kept, shown
as such and flagged (``contradicts_rules``), never hidden.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from . import checks as checks_mod
from . import compat, node_notes, selection
from .checks import FAIL, PASS
from .compat import OLDER_RELEASES, OLDER_SPELLINGS, WindowsBuild  # noqa: F401 - re-exported
from .errors import InputError
from .matrix import HostRelease, Matrix
from .targets import all_targets

VERIFIED_PASS = "verified-pass"
VERIFIED_FAIL = "verified-fail"
PREDICTED = "predicted"
CANNOT_RUN = "cannot-run"
# A cell is a Windows image on a Windows host: it is judged on the smoke checks Windows targets run.
SMOKE_CHECKS = checks_mod.smoke_names("windows")
# What judges a cell: a runner's smoke checks, or the cluster check (its workflow runs the image under test as the
# executor of a pod on a real node of that build; one run is one runner's, so the two never mix in a verdict).
CELL_CHECKS = (*SMOKE_CHECKS, checks_mod.WORKFLOW_CHECK.name)
# Checks of one Argo feature: their failure is a warning of the table, not a failing cell (checks.Check.limitation).
LIMITATIONS = {check.name: check.limitation for check in checks_mod.CHECKS if check.limitation}
SCHEMA = 1

LEGEND = {
    VERIFIED_PASS: ("✔", "verified: runs (smoke checks passed)"),
    VERIFIED_FAIL: ("✘", "verified: fails (a smoke check failed)"),
    PREDICTED: ("○", "predicted to run by the rules; not yet tried"),
    CANNOT_RUN: ("–", "cannot run: the rules forbid it"),
}
CONTRADICTION = ("⚠", "a verified result contradicts the rules")
DIFFER = ("≠", "Docker Engine and containerd take different entries of the one tag (or one of them none)")
ISOLATION_LABELS = {"process": "process", "hyperv": "Hyper-V"}


@dataclass(frozen=True)
class Evidence:
    date: str
    runner: str
    engine_version: str | None
    image_digest: str | None
    host_os_version: str
    checks: tuple[tuple[str, str], ...]  # (check, status), newest of each

    def to_json(self) -> dict:
        return {"date": self.date, "runner": self.runner, "engine_version": self.engine_version,
                "image_digest": self.image_digest, "host_os_version": self.host_os_version,
                "checks": [{"check": c, "status": s} for c, s in self.checks]}


@dataclass(frozen=True)
class Cell:
    state: str
    rule: str
    rule_allows: bool
    evidence: Evidence | None = None

    @property
    def contradicts_rules(self) -> bool:
        return (self.state == VERIFIED_PASS and not self.rule_allows) or \
            (self.state == VERIFIED_FAIL and self.rule_allows)

    @property
    def verified(self) -> bool:
        return self.state in (VERIFIED_PASS, VERIFIED_FAIL)

    def to_json(self) -> dict:
        return {"state": self.state, "rule": self.rule, "rule_allows": self.rule_allows,
                "contradicts_rules": self.contradicts_rules,
                "evidence": self.evidence.to_json() if self.evidence else None}


@dataclass(frozen=True)
class Publication:
    """Where the images are published, and the digests found there (None: not published yet, or not looked up)."""

    repository: str
    indexes: dict[str, str | None] = field(default_factory=dict)  # argo -> digest of REPO:<argo>
    images: dict[str, str | None] = field(default_factory=dict)  # target id -> digest of REPO:<target id>

    def image(self, target_id: str) -> Pull:
        return Pull(f"{self.repository}:{target_id}", self.images.get(target_id))

    def index(self, argo: str) -> Pull:
        return Pull(f"{self.repository}:{argo}", self.indexes.get(argo))


@dataclass(frozen=True)
class Pull:
    """What to pull: a tag, and its digest once published."""

    reference: str
    digest: str | None

    @property
    def pinned(self) -> str:
        return f"{self.reference}@{self.digest}" if self.digest else self.reference

    def to_json(self) -> dict:
        return {"reference": self.reference, "digest": self.digest}


@dataclass(frozen=True)
class Row:
    id: str
    argo: str
    base: str
    os_version: str
    cells: dict[str, dict[str, Cell]]  # host name -> isolation -> cell
    pull: Pull | None = None  # the per-base tag (and digest) when the repository is known


@dataclass(frozen=True)
class Table:
    hosts: tuple[HostRelease, ...]
    rows: tuple[Row, ...]
    records: int
    unplaced: int  # verification records from hosts that are no column
    publication: Publication | None = None
    stable_abi: tuple[int, ...] = compat.HCSSHIM_STABLE_ABI  # the matrix's stable-ABI builds (compat's window)
    warnings: tuple[str, ...] = ()  # what node owners cannot see from the cells (builder/node_notes.py)

    def index(self, argo: str) -> Pull | None:
        """The one multi-platform tag of an Argo version, when the repository is known."""
        return self.publication.index(argo) if self.publication else None

    def argo_versions(self) -> list[str]:
        return list(dict.fromkeys(row.argo for row in self.rows))

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "legend": {state: {"symbol": s, "meaning": m} for state, (s, m) in LEGEND.items()},
            "hosts": [{"name": h.name, "label": h.label, "build": h.build.base} for h in self.hosts],
            "images": [{"id": r.id, "argo": r.argo, "base": r.base, "os_version": r.os_version,
                        "pull": r.pull.to_json() if r.pull else None,
                        "cells": {host: {iso: cell.to_json() for iso, cell in cells.items()}
                                  for host, cells in r.cells.items()}} for r in self.rows],
            "records": self.records,
            "unplaced_records": self.unplaced,
            "warnings": list(self.warnings),
            "repository": self.publication.repository if self.publication else None,
            "indexes": {argo: self.publication.index(argo).to_json() for argo in self.argo_versions()}
            if self.publication
            else {},
            # Per Argo version and host column: the entry of the one tag each runtime takes, and the image to use.
            "resolution": {argo: {host.name: resolve(self, Node(host.build, host, host.name), argo)[0].to_json()
                                  for host in self.hosts} for argo in self.argo_versions()},
        }



def build_table(matrix: Matrix, records: list[dict], publication: Publication | None = None) -> Table:
    """The table from the records. With a ``publication`` whose digest of an image is known, only records of
    that digest count for its row: an image rebuilt to a new digest starts from the rules' prediction."""
    hosts = tuple(matrix.hosts)
    host_by_build = {h.build.build: h for h in hosts}
    # Every verifying record per cell. `error` (the image could not be pulled, the engine failed, a
    # timeout) says nothing about the image and `not-runnable` is the rules' word: neither verifies.
    by_cell: dict[tuple[str, str, str], list[dict]] = {}
    unplaced = 0
    for record in records:
        if record["os"] != "windows" or record["check"] not in CELL_CHECKS:
            continue
        if record["status"] not in (PASS, FAIL):
            continue
        if record.get("isolation") not in compat.ISOLATIONS:
            continue
        number = compat.build_number(record.get("host_os_version"))
        host = host_by_build.get(number) if number is not None else None
        if host is None:
            unplaced += 1
            continue
        by_cell.setdefault((record["target"], host.name, record["isolation"]), []).append(record)

    rows = []
    warnings: list[str] = []
    for target in all_targets(matrix):
        if not target.is_windows:
            continue
        image = target.windows.build
        pull = publication.image(target.id) if publication else None
        published_digest = pull.digest if pull else None
        cells: dict[str, dict[str, Cell]] = {}
        for host in hosts:
            cells[host.name] = {}
            for isolation in compat.ISOLATIONS:
                if isolation == compat.PROCESS:
                    rule = compat.process_isolation(host.build, image, matrix.stable_abi)
                else:
                    rule = compat.hyperv_isolation(host.build, image)
                found = by_cell.get((target.id, host.name, isolation), [])
                if published_digest is not None:
                    found = [r for r in found if r.get("image_digest") == published_digest]
                checks = newest_run(found)
                if checks:
                    latest = max(checks, key=_moment)
                    skew = _revision_skew(matrix, target, latest.get("host_os_version"))
                    if skew:
                        warnings.append(f"{target.id} on {host.name} ({latest.get('host_os_version')}): {skew}")
                    passed = all(r["status"] == PASS for r in checks if r["check"] not in LIMITATIONS)
                    for record in checks:
                        if record["status"] == FAIL and record["check"] in LIMITATIONS:
                            warnings.append(f"{target.id} on {host.name} ({isolation}): verified "
                                            f"{LIMITATIONS[record['check']]}")
                    evidence = Evidence(latest["started_at"], latest["runner"], latest.get("engine_version"),
                                        latest.get("image_digest"), latest.get("host_os_version") or "",
                                        tuple((r["check"], r["status"]) for r in checks))
                    cells[host.name][isolation] = Cell(VERIFIED_PASS if passed else VERIFIED_FAIL, rule.reason,
                                                       rule.ok, evidence)
                else:
                    cells[host.name][isolation] = Cell(PREDICTED if rule.ok else CANNOT_RUN, rule.reason, rule.ok)
        rows.append(Row(target.id, target.argo.tag, target.base, image.base, cells, pull))
    general = node_notes.general(list(dict.fromkeys(row.argo for row in rows)))
    return Table(hosts, tuple(rows), len(records), unplaced, publication, matrix.stable_abi,
                 tuple(dict.fromkeys([*general, *warnings])))


def _revision_skew(matrix: Matrix, target, host_os_version: str | None) -> str | None:
    """The revision-skew warning of a verified cell: its host's os.version (from the records) against the lock's
    os.version of the target's base."""
    locked = matrix.locked_base(target.release)
    try:
        host = WindowsBuild.parse(host_os_version) if host_os_version else None
    except ValueError:
        return None
    return node_notes.revision_skew(locked.os_version if locked else None, host)


def _moment(record: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def newest_run(records: list[dict]) -> list[dict]:
    """The checks of the newest run (same image, runner and host), the newest record of each check.

    A cell is judged on one run: a version check of tonight's image and a hello check of last
    week's must not add up to a pass."""
    if not records:
        return []
    latest = max(records, key=_moment)
    run = (latest.get("image_digest"), latest["runner"], latest.get("host_os_version"))
    same_run = [r for r in records if (r.get("image_digest"), r["runner"], r.get("host_os_version")) == run]
    newest: dict[str, dict] = {}
    for record in sorted(same_run, key=_moment):
        newest[record["check"]] = record
    return [newest[c] for c in CELL_CHECKS if c in newest]


@dataclass(frozen=True)
class Advice:
    argo: str
    row: Row | None
    isolation: str | None
    cell: Cell | None
    rule: str = ""  # which preference picked it: see PREFERENCES


# The preferences between the images that run on a node, in order; the first one that tells the best option
# from the next best is the rule that picked it.
PREFER_VERIFIED = "verified beats predicted"
PREFER_PROCESS = "process isolation beats Hyper-V"
PREFER_CLOSEST = "the base build closest to the node breaks ties"
ONLY_ONE = "the only image that runs on this node"
PREFERENCES = (PREFER_VERIFIED, PREFER_PROCESS, PREFER_CLOSEST)
_RANK = {VERIFIED_PASS: 0, PREDICTED: 1}


def _node_cells(table: Table, row: Row, node: Node) -> dict[str, Cell]:
    """The row's cells on a node: its column's when it has one, else the rules' prediction for its build."""
    if node.column is not None:
        return row.cells[node.column.name]
    image = WindowsBuild.parse(row.os_version)
    out = {}
    for isolation in compat.ISOLATIONS:
        rule = (compat.process_isolation(node.build, image, table.stable_abi) if isolation == compat.PROCESS
                else compat.hyperv_isolation(node.build, image))
        out[isolation] = Cell(PREDICTED if rule.ok else CANNOT_RUN, rule.reason, rule.ok)
    return out


def prefer(table: Table, node: Node, argo: str) -> Advice:
    """The image to use on ``node`` for one Argo version, and the preference that picked it."""
    options = []
    for row in (r for r in table.rows if r.argo == argo):
        build = compat.build_number(row.os_version)
        if build is None or build > node.build.build:
            distance = None
        else:
            distance = node.build.build - build
        for order, (isolation, cell) in enumerate(sorted(_node_cells(table, row, node).items(),
                                                         key=lambda item: compat.ISOLATIONS.index(item[0]))):
            if cell.state in _RANK and distance is not None:
                options.append(((_RANK[cell.state], order, distance), row, isolation, cell))
            elif cell.state in _RANK:  # a verified pass of an image newer than the node: the evidence wins
                options.append(((_RANK[cell.state], order, 1 << 20), row, isolation, cell))
    if not options:
        return Advice(argo, None, None, None, "no image runs on this node")
    options.sort(key=lambda o: o[0])
    best = options[0]
    distinct_images = {(o[1].id, o[2]) for o in options}
    if len(distinct_images) == 1:
        rule = ONLY_ONE
    else:
        runner_up = options[1]
        differs = next((i for i, (a, b) in enumerate(zip(best[0], runner_up[0], strict=True)) if a != b), 2)
        rule = PREFERENCES[differs]
    return Advice(argo, best[1], best[2], best[3], rule)


def advise(table: Table, host: HostRelease) -> list[Advice]:
    """For a node of ``host``: per Argo version, the image to use and how (verified beats predicted,
    process beats Hyper-V, the base build closest to the node's breaks ties)."""
    node = Node(host.build, host, host.name)
    return [prefer(table, node, argo) for argo in table.argo_versions()]


# -- a node, however it is spelled ------------------------------------------------------------------

# The label the kubelet on Windows puts on its Node, "MajorVersion.MinorVersion.BuildNumber" (10.0.17763):
# kubernetes.io docs, "Well-Known Labels, Annotations and Taints", node.kubernetes.io/windows-build.
LABEL = "node.kubernetes.io/windows-build"
_BUILDISH_RE = re.compile(r"^[0-9]*\.[0-9.]*\Z", re.ASCII)


@dataclass(frozen=True)
class Node:
    """A Windows node: its build, the table column of that build (None: no column has it), and how it was named."""

    build: WindowsBuild
    column: HostRelease | None
    spelling: str

    def to_json(self) -> dict:
        return {"build": self.build.base, "spelling": self.spelling,
                "column": self.column.name if self.column else None,
                "label": self.column.label if self.column else None}


def oldest_image(table: Table) -> WindowsBuild | None:
    """The oldest base build of the table's images: a node older than it runs none of them."""
    builds = [n for n in (compat.build_number(r.os_version) for r in table.rows) if n is not None]
    return WindowsBuild(10, 0, min(builds)) if builds else None


def node_spellings(matrix: Matrix) -> dict[str, str]:
    """Every name a node may be given, lower-cased, to the ``10.0.BUILD`` it stands for (the older releases no
    image runs on, host columns, then Windows releases)."""
    names: dict[str, str] = dict(OLDER_SPELLINGS)
    for release in matrix.releases:
        for name in release.names:
            names[name.lower()] = release.build.base
    for host in matrix.hosts:
        for name in host.names:
            names[name.lower()] = host.build.base
    return names


def accepted_spellings(matrix: Matrix) -> str:
    """What ``--node`` (``--host``) accepts, for an error message."""
    names = list(dict.fromkeys([n for h in matrix.hosts for n in h.names] + [n for r in matrix.releases
                                                                              for n in r.names]))
    return (f"known: {', '.join(names)}; or a build 10.0.BUILD[.REVISION] (the value of a node's {LABEL} label, "
            "e.g. 10.0.17763)")


def resolve_node(matrix: Matrix, text: str, flag: str = "--node") -> Node:
    """A node from ``2019``, ``ltsc2019``, ``1809``, ``10.0.17763``, ``10.0.17763.6893`` or the label's
    value (``10.0.17763``, also as ``node.kubernetes.io/windows-build=10.0.17763``); InputError (exit 2) for
    anything else, naming what is accepted."""
    spelled = str(text).strip()
    value = spelled[len(LABEL) + 1:] if spelled.lower().startswith(LABEL + "=") else spelled
    build_text = node_spellings(matrix).get(value.lower())
    try:
        build = WindowsBuild.parse(build_text or value)
    except ValueError as exc:
        shown = spelled if spelled.isprintable() and spelled else repr(spelled)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        # A value that looks like a build gets the build's own complaint too (11.0.17763: only 10.0.* run).
        why = f" ({exc})" if _BUILDISH_RE.match(value) else ""
        raise InputError(f"{flag} {shown}: unknown node{why}; {accepted_spellings(matrix)}") from None
    column = next((h for h in matrix.hosts if h.build.build == build.build), None)
    return Node(build, column, spelled)


def nearest_column(hosts: tuple[HostRelease, ...], build: WindowsBuild) -> HostRelease | None:
    """The column whose build is closest to ``build``, preferring one not newer than it."""
    older = [h for h in hosts if h.build.build <= build.build]
    pool = older or list(hosts)
    return min(pool, key=lambda h: (abs(build.build - h.build.build), h.build.build)) if pool else None


# -- which entry of the one tag a node pulls ---------------------------------------------------------


def index_entries(table: Table, argo: str) -> tuple[selection.Entry, ...]:
    """The Windows entries of ``REPO:<argo>`` as publish writes them: one per base, newest build first, each with
    its base's os.version (then upstream's linux entries, which no Windows node takes)."""
    rows = sorted((r for r in table.rows if r.argo == argo), key=lambda r: compat.build_number(r.os_version) or 0,
                  reverse=True)
    windows = tuple(selection.Entry(r.base, "windows", "amd64", r.os_version, r.pull.digest if r.pull else None,
                                    revision_pending=True) for r in rows)
    return windows + (selection.Entry("linux/amd64", "linux", "amd64"), selection.Entry("linux/arm64", "linux",
                                                                                      "arm64"))


@dataclass(frozen=True)
class Taken:
    """One runtime's pick, with the row it is and how that image runs on the node."""

    pick: selection.Pick
    row: Row | None
    placement: compat.Placement | None
    cell: Cell | None

    def to_json(self) -> dict:
        return {**self.pick.to_json(), "image": self.row.id if self.row else None,
                "isolation": self.placement.isolation if self.placement else None,
                "how": self.placement.reason if self.placement else None,
                "state": self.cell.state if self.cell else None}


@dataclass(frozen=True)
class Resolution:
    """For one node and Argo version: the one tag, the entry each runtime takes, and the image to prefer."""

    argo: str
    node: Node
    index: Pull | None
    taken: dict[str, Taken]
    disagreement: str | None
    preferred: Advice

    def to_json(self) -> dict:
        advice = self.preferred
        return {
            "argo": self.argo,
            "node": self.node.to_json(),
            "index": self.index.to_json() if self.index else None,
            "docker": self.taken[selection.DOCKER].to_json(),
            "containerd": self.taken[selection.CONTAINERD].to_json(),
            "disagreement": self.disagreement,
            "preferred": {"image": advice.row.id if advice.row else None,
                          "pull": advice.row.pull.to_json() if advice.row and advice.row.pull else None,
                          "isolation": advice.isolation, "state": advice.cell.state if advice.cell else None,
                          "rule": advice.rule, "why": advice.cell.rule if advice.cell else None,
                          "evidence": advice.cell.evidence.to_json() if advice.cell and advice.cell.evidence
                          else None},
        }


def resolve(table: Table, node: Node, argo: str | None = None) -> list[Resolution]:
    """Per Argo version (or only ``argo``): which entry of the one tag the node resolves to under Docker Engine and
    under containerd, how that image runs there, where the two disagree, and the image to prefer."""
    out = []
    for version in [argo] if argo else table.argo_versions():
        entries = index_entries(table, version)
        rows = {r.base: r for r in table.rows if r.argo == version}
        taken = {}
        for runtime, pick in selection.picks(entries, node.build, table.stable_abi).items():
            row = rows.get(pick.entry.name) if pick.entry else None
            if row is None:
                taken[runtime] = Taken(pick, None, None, None)
                continue
            placement = compat.choose_isolation(node.build, row.os_version, stable_abi=table.stable_abi)
            cells = _node_cells(table, row, node)
            cell = cells.get(placement.isolation) if placement.isolation else cells[compat.PROCESS]
            taken[runtime] = Taken(pick, row, placement, cell)
        docker, containerd = taken[selection.DOCKER].pick, taken[selection.CONTAINERD].pick
        # "≠" is for runtimes that really differ: when neither finds an entry, they agree (on nothing).
        disagreement = (selection.disagreement(docker, containerd)
                        if docker.entry is not None or containerd.entry is not None else None)
        out.append(Resolution(version, node, table.index(version), taken, disagreement,
                              prefer(table, node, version)))
    return out
