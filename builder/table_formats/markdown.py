"""The table as Markdown (docs/compatibility.md): columns by release over build, narrow enough for GitHub's
1012 px column; every record value shown as text (``md_text``, ``md_code``)."""

from __future__ import annotations

import html
import re

from .. import compat
from ..table import CONTRADICTION, DIFFER, ISOLATION_LABELS, Cell, Table
from .common import SHORT, column_resolutions, legend_lines, resolution_cells, symbol

# Record fields come from any runner's JSON, so every value is text to show, never Markdown or HTML.
# The Markdown is rendered with raw HTML on (GitHub, most renderers): the HTML-significant characters
# become entities, which CommonMark decodes back into text. Of the Markdown syntax, a value can only
# reach the inline kind: no value starts a line (the templates below never put one first, and line
# breaks are replaced), so `#`, `-`, `>` or a digit cannot open a heading, list or quote. The inline
# syntax is backslash-escaped: emphasis, code, links and images (`[`, `]`, `!`), GFM tables (`|`) and
# strikethrough (`~`), math (`$`), the backslash itself; `#` too, which closes an ATX heading.
_MD_INLINE_RE = re.compile(r"([\\`*_\[\]|~$#!])")
_LINE_BREAKING_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_CODE_SPAN_RE = re.compile(r"[A-Za-z0-9._:/@+-]+\Z")


def md_text(value: object) -> str:
    """A value as Markdown text that renders as exactly that text."""
    text = _LINE_BREAKING_RE.sub(" ", str(value))
    return html.escape(_MD_INLINE_RE.sub(r"\\\1", text), quote=True)


def md_code(value: object) -> str:
    """A value as a code span when nothing in it can end the span or split a table cell; else as text."""
    text = str(value)
    return f"`{text}`" if _CODE_SPAN_RE.match(text) else md_text(text)


def _md_column(host) -> str:
    """A host column's head: its release (``2019``, ``2022``, ``2025``: the year alias when it has one) over its
    build number."""
    release = next((n for n in host.names if re.fullmatch(r"20[0-9]{2}", n)), host.name)
    return f"{md_text(release)}<br>{host.build.build}"


def _md_cell(cells: dict[str, Cell]) -> str:
    return f"P{symbol(cells['process'])} H{symbol(cells['hyperv'])}"


def to_markdown(table: Table, heading_level: int = 2) -> str:
    hashes = "#" * heading_level
    out = ["Legend: " + "; ".join(legend_lines()) + ".", ""]
    if table.warnings:
        out += ["Warnings:", "", *(f"- {md_text(warning)}" for warning in table.warnings), ""]
    for argo in table.argo_versions():
        rows = [r for r in table.rows if r.argo == argo]
        out.append(f"{hashes} argoexec {md_text(argo)}")
        out.append("")
        index = table.index(argo)
        if index is not None:
            published = f" ({md_code(index.digest)})" if index.digest else " (not published yet)"
            out.append(f"Pull {md_code(index.reference)}{published}: one tag for every Windows build (and Linux); "
                       "each node takes the entry of its build.")
            out.append("")
        # Narrow enough for GitHub's 1012 px README column with no cell wrapping: the release over its build in each
        # column head, the base over its build in each row head, and a letter and a symbol per isolation.
        out.append("| image | " + " | ".join(_md_column(h) for h in table.hosts) + " |")
        out.append("|---|" + "---|" * len(table.hosts))
        for row in rows:
            build = compat.build_number(row.os_version)
            out.append(f"| {md_text(row.base)}<br>{md_text(build if build is not None else row.os_version)} | "
                       + " | ".join(_md_cell(row.cells[h.name]) for h in table.hosts) + " |")
        out.append("")
        subject = f"of {md_code(index.reference)}" if index is not None else "of the one tag"
        out.append(f"Which entry {subject} a node takes (Docker Engine and containerd select differently; "
                   f"{DIFFER[0]} where they differ), and the image to prefer where several run:")
        out.append("")
        for host, res in column_resolutions(table, argo):
            docker, containerd, preferred = resolution_cells(res)
            out.append(f"- {md_text(host.label)} ({md_text(host.build.base)}): Docker Engine takes {md_text(docker)}, "
                       f"containerd {md_text(containerd)}; prefer {md_text(preferred)}")
        pulls = [row for row in rows if row.pull is not None]
        if pulls:
            out.append("")
            out.append("Per-base tags:")
            for row in pulls:
                digest = f" {md_code(row.pull.digest)}" if row.pull.digest else " (not published yet)"
                out.append(f"- {md_text(row.base)}: {md_code(row.pull.reference)}{digest}")
        evidence = [(row, host, iso, cell) for row in rows for host in table.hosts
                    for iso, cell in row.cells[host.name].items() if cell.verified]
        if evidence:
            out.append("")
            out.append("Evidence:")
            for row, host, iso, cell in evidence:
                ev = cell.evidence
                checks = ", ".join(f"{md_text(c)} {md_text(s)}" for c, s in ev.checks)
                flag = (f" {CONTRADICTION[0]} contradicts the rules ({md_text(cell.rule)})"
                        if cell.contradicts_rules else "")
                out.append(f"- {md_code(row.id)} on {md_text(host.label)}, {ISOLATION_LABELS[iso]}: "
                           f"{SHORT[cell.state]}, {md_text(ev.date)}, runner {md_text(ev.runner)}, engine "
                           f"{md_text(ev.engine_version or '?')}, host {md_text(ev.host_os_version)}, image "
                           f"{md_text(ev.image_digest or '?')} ({checks}){flag}")
        out.append("")
    out.append("Hosts: " + "; ".join(f"{md_text(h.name)} = {md_text(h.label)} ({md_text(h.build.base)})"
                                     for h in table.hosts) + ".")
    return "\n".join(out) + "\n"
