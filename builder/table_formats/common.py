"""What every format of the table shares: the symbols of a cell, the legend, what to pull, each host column's
resolution (which entry of the one tag each runtime takes, the image to prefer) and the placeholder note."""

from __future__ import annotations

import dataclasses

from .. import checks as checks_mod
from ..matrix import HostRelease
from ..selection import CONTAINERD, DOCKER
from ..table import (
    CANNOT_RUN,
    CONTRADICTION,
    DIFFER,
    ISOLATION_LABELS,
    LEGEND,
    PREDICTED,
    VERIFIED_FAIL,
    VERIFIED_PASS,
    Cell,
    Node,
    Resolution,
    Table,
    Taken,
    resolve,
)

SHORT = {VERIFIED_PASS: "pass", VERIFIED_FAIL: "fail", PREDICTED: "predicted", CANNOT_RUN: "no"}


def symbol(cell: Cell) -> str:
    symbol = LEGEND[cell.state][0]
    return symbol + (CONTRADICTION[0] if cell.contradicts_rules else "")


def compact(cells: dict[str, Cell]) -> str:
    return f"P {symbol(cells['process'])} · H {symbol(cells['hyperv'])}"


def only_argo(table: Table, argo: list[str] | None) -> Table:
    if not argo:
        return table
    return dataclasses.replace(table, rows=tuple(r for r in table.rows if r.argo in argo))


def pull_lines(table: Table, argo: str) -> list[str]:
    """What to pull for one Argo version: the one tag for every node, and each per-base tag."""
    index = table.index(argo)
    if index is None:
        return []
    state = "" if index.digest else " (not published yet)"
    lines = [f"pull {index.pinned}{state}: one tag for every Windows build (and Linux); each node takes its entry"]
    for row in (r for r in table.rows if r.argo == argo and r.pull is not None):
        lines.append(f"  {row.base}: {row.pull.pinned}" + ("" if row.pull.digest else " (not published yet)"))
    return lines


def column_resolutions(table: Table, argo: str) -> list[tuple[HostRelease, Resolution]]:
    """Per host column, the resolution of the one tag of ``argo`` on a node of that column."""
    return [(host, resolve(table, Node(host.build, host, host.name), argo)[0]) for host in table.hosts]


def _taken_short(taken: Taken) -> str:
    if taken.pick.entry is None:
        return "no entry"
    iso = taken.placement.isolation if taken.placement else None
    return f"{taken.pick.entry.name} ({ISOLATION_LABELS[iso] if iso else 'cannot run'})"


def _preferred_short(res: Resolution) -> str:
    advice = res.preferred
    if advice.row is None:
        return "none runs"
    return (f"{advice.row.base} ({ISOLATION_LABELS[advice.isolation]}, {SHORT[advice.cell.state]}): "
            f"{advice.rule}")


def resolution_cells(res: Resolution) -> tuple[str, str, str]:
    """Docker Engine's entry, containerd's entry (flagged when they differ), the preferred image and its rule."""
    flag = f" {DIFFER[0]}" if res.disagreement else ""
    return (_taken_short(res.taken[DOCKER]) + flag, _taken_short(res.taken[CONTAINERD]) + flag,
            _preferred_short(res))


RESOLUTION_HEADERS = ("node", "Docker Engine takes", "containerd takes", "preferred image (rule)")


def legend_lines(hosts: tuple = ()) -> list[str]:
    """The legend; with ``hosts``, a line per host column: ``1809 = Windows Server 2019 (1809), 10.0.17763``."""
    lines = [f"{symbol} {meaning}" for symbol, meaning in LEGEND.values()]
    lines.append(f"{CONTRADICTION[0]} {CONTRADICTION[1]}")
    lines.append(f"{DIFFER[0]} {DIFFER[1]}")
    lines.append("P = process isolation, H = Hyper-V isolation")
    lines.append("a cell is verified by the smoke checks " + ", ".join(
        f"{check.name} ({check.description})" for check in checks_mod.CHECKS
        if check.smoke and "windows" in check.oses)
        + f", run together on a node of that build, or by the cluster check {checks_mod.WORKFLOW_CHECK.name} (the "
        "image as a workflow's executor on a real node); only records of exactly that image's digest count, "
        "signed by a key the project trusts (docs/evidence.md)")
    lines.extend(f"{host.name} = {host.label}, {host.build.base}" for host in hosts)
    return lines


def placeholder_note(table: Table) -> str | None:
    """While no tag of the publish repository is known to be there, one line saying the references are where the
    images would be (the matrix's ``registries.publish``), not images to pull yet."""
    if table.publication is None:
        return "no repository to pull from: set registries.publish in the matrix"
    if any(table.index(argo) is not None and table.index(argo).digest for argo in table.argo_versions()):
        return None
    return (f"note: {table.publication.repository} (registries.publish in matrix.yaml) has no image known: "
            "these references are placeholders until images are published there")
