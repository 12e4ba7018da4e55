"""The table at the terminal: one table per Argo version at the console's width (host columns in groups when it is
wider), and ``wrap``, the line wrapping of ``invoke which``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable

from ..table import Table
from .common import RESOLUTION_HEADERS, column_resolutions, compact, legend_lines, pull_lines, resolution_cells


def _host_groups(table: Table, argo: str, console: Console) -> list[tuple]:
    """The host columns split into consecutive groups whose tables each fit the console's width (one group when
    the whole table fits); [] when not even one host column fits beside the image column."""
    from rich.measure import Measurement

    unbounded = console.options.update_width(1_000_000)
    groups: list[tuple] = []
    current: tuple = ()
    for host in table.hosts:
        wider = current + (host,)
        if Measurement.get(console, unbounded, _grid(table, argo, wider, "")).maximum <= console.width:
            current = wider
        elif not current:
            return []
        else:
            groups.append(current)
            current = (host,)
            if Measurement.get(console, unbounded, _grid(table, argo, current, "")).maximum > console.width:
                return []
    return groups + [current] if current else groups


def _grid(table: Table, argo: str, hosts: tuple, title: str) -> RichTable:
    grid = RichTable(title=title or None, show_lines=False)
    grid.add_column("image (base)", no_wrap=True)
    for host in hosts:
        grid.add_column(host.name, no_wrap=True)
    for row in (r for r in table.rows if r.argo == argo):
        grid.add_row(f"{row.base} ({row.os_version})", *(compact(row.cells[h.name]) for h in hosts))
    return grid


def to_text(table: Table, console: Console) -> None:
    """One table per Argo version at the console's width: whole when it fits, else its host columns in groups
    one below the other, else (a very narrow console) one block per image with a line per host."""
    for argo in table.argo_versions():
        title = f"argoexec {argo}: which image runs on which Windows node"
        groups = _host_groups(table, argo, console)
        if groups:
            for number, hosts in enumerate(groups, 1):
                part = f" (hosts {hosts[0].name} to {hosts[-1].name}, {number} of {len(groups)})" \
                    if len(groups) > 1 else ""
                console.print(_grid(table, argo, hosts, title + part))
        else:
            console.print(title, markup=False, highlight=False)
            for row in (r for r in table.rows if r.argo == argo):
                console.print(f"{row.base} ({row.os_version})", markup=False, highlight=False)
                for host in table.hosts:
                    console.print(f"  {host.name}: {compact(row.cells[host.name])}", markup=False, highlight=False)
        for line in pull_lines(table, argo):
            console.print(line, markup=False, highlight=False, overflow="fold")
        which = RichTable(title=f"argoexec {argo}: the entry of the one tag each node takes, and the image to prefer")
        for header in RESOLUTION_HEADERS:
            which.add_column(header, overflow="fold")
        for host, res in column_resolutions(table, argo):
            which.add_row(host.name, *resolution_cells(res))
        console.print(which)
    for line in legend_lines(table.hosts):
        console.print(line, markup=False, highlight=False)
    for warning in table.warnings:  # what the cells cannot show (builder/node_notes.py)
        console.print(f"warning: {warning}", markup=False, highlight=False, overflow="fold")


def wrap(line: str, width: int | None) -> list[str]:
    """``line`` wrapped to ``width`` (None: not wrapped), continuation lines indented under its first word; words
    break only at spaces, and a word longer than the line (a long reference) at ``/``, ``:`` or ``@`` first."""
    import textwrap

    if width is None or len(line) <= width:
        return [line]
    lead = " " * min(len(line) - len(line.lstrip(" ")), width // 2)
    indent = lead + "  "
    words = []
    for word in line.strip(" ").split(" "):
        while len(word) > width - len(indent):
            cut = max(word.rfind(c, 0, width - len(indent)) for c in "/:@")
            cut = cut + 1 if cut > 0 else width - len(indent)
            words.append(word[:cut])
            word = word[cut:]
        words.append(word)
    return textwrap.wrap(" ".join(words), width=width, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False, initial_indent=lead)
