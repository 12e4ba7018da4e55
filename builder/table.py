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
from dataclasses import dataclass, field

from . import checks as checks_mod
from . import compat
from .checks import FAIL, PASS
from .matrix import HostRelease, Matrix
from .targets import all_targets

VERIFIED_PASS = "verified-pass"
VERIFIED_FAIL = "verified-fail"
PREDICTED = "predicted"
CANNOT_RUN = "cannot-run"
# A cell is a Windows image on a Windows host: it is judged on the smoke checks Windows targets run.
SMOKE_CHECKS = checks_mod.smoke_names("windows")
SCHEMA = 1

LEGEND = {
    VERIFIED_PASS: ("✔", "verified: runs (smoke checks passed)"),
    VERIFIED_FAIL: ("✘", "verified: fails (a smoke check failed)"),
    PREDICTED: ("○", "predicted to run by the rules; not yet tried"),
    CANNOT_RUN: ("–", "cannot run: the rules forbid it"),
}
CONTRADICTION = ("⚠", "a verified result contradicts the rules")
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
            "repository": self.publication.repository if self.publication else None,
            "indexes": {argo: self.index(argo).to_json() for argo in self.argo_versions()} if self.publication
            else {},
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
        if record["os"] != "windows" or record["check"] not in SMOKE_CHECKS:
            continue
        if record["status"] not in (PASS, FAIL):
            continue
        if record.get("isolation") not in compat.ISOLATIONS:
            continue
        host = host_by_build.get(compat.build_number(record.get("host_os_version")))
        if host is None:
            unplaced += 1
            continue
        by_cell.setdefault((record["target"], host.name, record["isolation"]), []).append(record)

    rows = []
    for target in all_targets(matrix):
        if not target.is_windows:
            continue
        image = target.release.build
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
                    passed = all(r["status"] == PASS for r in checks)
                    evidence = Evidence(latest["started_at"], latest["runner"], latest.get("engine_version"),
                                        latest.get("image_digest"), latest.get("host_os_version") or "",
                                        tuple((r["check"], r["status"]) for r in checks))
                    cells[host.name][isolation] = Cell(VERIFIED_PASS if passed else VERIFIED_FAIL, rule.reason,
                                                       rule.ok, evidence)
                else:
                    cells[host.name][isolation] = Cell(PREDICTED if rule.ok else CANNOT_RUN, rule.reason, rule.ok)
        rows.append(Row(target.id, target.argo.tag, target.base, image.base, cells, pull))
    return Table(hosts, tuple(rows), len(records), unplaced, publication)


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
    return [newest[c] for c in SMOKE_CHECKS if c in newest]


@dataclass(frozen=True)
class Advice:
    argo: str
    row: Row | None
    isolation: str | None
    cell: Cell | None


def advise(table: Table, host: HostRelease) -> list[Advice]:
    """For a node of ``host``: per Argo version, the image to use and how (verified beats predicted,
    process beats Hyper-V, the newest base build breaks ties)."""
    rank = {VERIFIED_PASS: 0, PREDICTED: 1}
    out = []
    for argo in table.argo_versions():
        options = []
        for row in (r for r in table.rows if r.argo == argo):
            for order, isolation in enumerate(compat.ISOLATIONS):
                cell = row.cells[host.name][isolation]
                if cell.state in rank:
                    newest_first = -compat.build_number(row.os_version)
                    options.append(((rank[cell.state], order, newest_first), row, isolation, cell))
        if options:
            _, row, isolation, cell = min(options, key=lambda o: o[0])
            out.append(Advice(argo, row, isolation, cell))
        else:
            out.append(Advice(argo, None, None, None))
    return out
