"""The README's compatibility section: a short table for the first Argo version between two markers, and the
checks that the section can be replaced."""

from __future__ import annotations

from ..table import DIFFER, ISOLATION_LABELS, LEGEND, Table
from .common import SHORT, column_resolutions
from .markdown import md_code, md_text

README_START = "<!-- compatibility:start -->"
README_END = "<!-- compatibility:end -->"


def to_readme_summary(table: Table, full: str = "docs/compatibility.md", page: str = "docs/index.html") -> str:
    """The README's compatibility section: for the first Argo version of the table, per host column, the image a
    node pulls, its isolation and how sure, in one short table; the rest (every Argo version, every cell, the
    evidence) is linked."""
    out = []
    versions = table.argo_versions()
    if not versions:
        return f"No image in the table yet: see [{full}]({full}).\n"
    argo = versions[0]
    index = table.index(argo)
    if index is not None:
        state = f" ({md_code(index.digest)})" if index.digest else " (not published yet)"
        out.append(f"argoexec {md_text(argo)}: one tag for every node, {md_code(index.reference)}{state}; each "
                   "node's image and isolation:")
    else:
        out.append(f"argoexec {md_text(argo)}: each node's image and isolation:")
    out.append("")
    out.append("| node | build | image | isolation | how sure |")
    out.append("|---|---|---|---|---|")
    for host, res in column_resolutions(table, argo):
        advice = res.preferred
        if advice.row is None:
            out.append(f"| {md_text(host.label)} | {md_text(host.build.base)} | none runs | – | – |")
            continue
        symbol, _ = LEGEND[advice.cell.state]
        flag = f" {DIFFER[0]}" if res.disagreement else ""
        out.append(f"| {md_text(host.label)} | {md_text(host.build.base)} | {md_code(advice.row.id)}{flag} | "
                   f"{ISOLATION_LABELS[advice.isolation]} | {symbol} {SHORT[advice.cell.state]} |")
    out.append("")
    others = ", ".join(md_text(v) for v in versions[1:])
    out.append(f"Every Argo version{f' ({others})' if others else ''}, every cell with its evidence, and what "
               f"Docker Engine and containerd take: [{full}]({full}); by node: the page [{page}]({page}). "
               f"{DIFFER[0]}: the runtimes take different entries.")
    return "\n".join(out) + "\n"


def readme_section_problem(readme: str) -> str | None:
    """Why the README's table section cannot be replaced, or None. Only one start marker followed by
    one end marker says unambiguously what to replace: with a stray second marker (a runner once
    named after one broke the section this way) every publish would keep or append the wrong text."""
    starts, ends = readme.count(README_START), readme.count(README_END)
    if not starts or not ends:
        return f"no {README_START} ... {README_END} section to fill; add the two lines where the table belongs"
    if starts > 1 or ends > 1:
        return (f"{README_START} appears {starts} time(s) and {README_END} {ends} time(s); keep exactly one "
                "of each around the table")
    if readme.index(README_END) < readme.index(README_START):
        return f"{README_END} comes before {README_START}; put the start marker first"
    return None


def replace_readme_section(readme: str, markdown: str) -> str:
    problem = readme_section_problem(readme)
    if problem:
        raise ValueError(problem)
    if README_START in markdown or README_END in markdown:  # md_text escapes them: never expected
        raise ValueError("the table's Markdown holds a section marker")
    before, rest = readme.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    return f"{before}{README_START}\n{markdown}{README_END}{after}"
