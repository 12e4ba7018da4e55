"""The compatibility table as text, Markdown, JSON and HTML, all from one model (``table``).

Every output is deterministic (same records, same bytes) and readable without colour: each state
has a symbol and a word. The HTML page is self-contained (inline CSS and script, no external
asset), filterable by Argo version and host (also from the URL: ``#argo=v4.1.2&host=2025``), and
each verified cell shows its evidence.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from . import checks as checks_mod
from . import compat
from .compat import WindowsBuild
from .errors import InputError
from .files import write_atomically
from .selection import CONTAINERD, DOCKER, RUNTIME_LABELS
from .table import (
    CANNOT_RUN,
    CONTRADICTION,
    DIFFER,
    ISOLATION_LABELS,
    LABEL,
    LEGEND,
    OLDER_RELEASES,
    OLDER_SPELLINGS,
    PREDICTED,
    PREFERENCES,
    VERIFIED_FAIL,
    VERIFIED_PASS,
    Cell,
    Node,
    Resolution,
    Table,
    Taken,
    nearest_column,
    oldest_image,
    resolve,
)

README_START = "<!-- compatibility:start -->"
README_END = "<!-- compatibility:end -->"
SHORT = {VERIFIED_PASS: "pass", VERIFIED_FAIL: "fail", PREDICTED: "predicted", CANNOT_RUN: "no"}


def _symbol(cell: Cell) -> str:
    symbol = LEGEND[cell.state][0]
    return symbol + (CONTRADICTION[0] if cell.contradicts_rules else "")


def _compact(cells: dict[str, Cell]) -> str:
    return f"P {_symbol(cells['process'])} · H {_symbol(cells['hyperv'])}"


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


def column_resolutions(table: Table, argo: str) -> list[tuple[object, Resolution]]:
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


# -- text ---------------------------------------------------------------------------------------


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
        grid.add_row(f"{row.base} ({row.os_version})", *(_compact(row.cells[h.name]) for h in hosts))
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
                    console.print(f"  {host.name}: {_compact(row.cells[host.name])}", markup=False, highlight=False)
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


def _node_heading(node: Node, hosts: tuple, oldest: WindowsBuild | None = None) -> str:
    if oldest is not None and node.build.build < oldest.build:
        name = OLDER_RELEASES.get(node.build.build)
        return (f"{name + ' ' if name else ''}({node.build}): not supported: no nanoserver of this matrix runs "
                f"there (the oldest is {oldest.base}; Windows runs no image newer than its host)")
    if node.column is not None:
        return f"{node.column.label}, build {node.build}:"
    near = nearest_column(hosts, node.build)
    nearest = f"; nearest: {near.name}, {near.build.base}" if near else ""
    return f"A {node.build} node (no column: the rules decide{nearest}):"


def _proof(cell: Cell, rule: str) -> str:
    """How sure: verified where and when, or predicted by which rule."""
    if cell.state == VERIFIED_PASS:
        ev = cell.evidence
        if ev.checks and all(check == checks_mod.WORKFLOW_CHECK.name for check, _ in ev.checks):
            return f"verified {ev.date[:10]} on {ev.runner}, host {ev.host_os_version} (a workflow on an Argo cluster)"
        return (f"verified {ev.date[:10]} on runner {ev.runner}, host {ev.host_os_version} "
                f"(engine {ev.engine_version or '?'})")
    return f"predicted by the rule: {rule}; not yet verified"


def _taken_line(label: str, taken: Taken) -> str:
    pick = taken.pick
    if pick.entry is None:
        return f"{label}: no entry: {pick.rule}"
    how = (f"runs with {ISOLATION_LABELS[taken.placement.isolation]} isolation" if taken.placement and
           taken.placement.isolation else f"cannot run it ({taken.placement.reason})" if taken.placement else "")
    state = f", {SHORT[taken.cell.state]}" if taken.cell and taken.placement and taken.placement.isolation else ""
    return f"{label}: the {pick.entry.name} entry ({pick.entry.os_version}): {pick.rule}; {how}{state}"


def _one_tag_line(res: Resolution) -> str:
    """Which entry of the one tag each runtime takes, in one line (``≠`` only when they take different ones)."""
    subject = f"the one tag {res.index.pinned}" if res.index is not None else "the one tag"
    docker, containerd = res.taken[DOCKER].pick.entry, res.taken[CONTAINERD].pick.entry
    if docker == containerd:
        what = f"its {docker.name} entry" if docker else "no entry of it"
        return f"{subject}: Docker Engine and containerd take {what}"
    return (f"{subject}: Docker Engine takes {f'its {docker.name} entry' if docker else 'no entry'}, containerd "
            f"{f'its {containerd.name} entry' if containerd else 'none'}")


@dataclasses.dataclass
class WhichAnswer:
    """One Argo version's answer on one node, as ``invoke which`` and the page's box lead with it: the reference
    to pull, the isolation, how sure, and ``warnings`` (each one line, shown after those three; other checks add
    theirs to the list)."""

    argo: str
    reference: str | None  # None: no image of this matrix runs on the node
    isolation: str | None
    how_sure: str
    warnings: list[str]
    details: list[str]  # the runtimes' picks and the preference, after the answer (all of them with --verbose)
    verbose: list[str]


def which_answers(node: Node, resolutions: list[Resolution], oldest: WindowsBuild | None = None,
                  notes: dict[str, list[str]] | None = None) -> list[WhichAnswer]:
    """``notes``: per Argo version, what the rules cannot show on this node (builder/node_notes.py), each a
    warning of that version's answer."""
    answers = []
    for res in resolutions:
        advice = res.preferred
        warnings: list[str] = list((notes or {}).get(res.argo, []))
        if res.disagreement and (res.taken[DOCKER].pick.entry or res.taken[CONTAINERD].pick.entry):
            warnings.append(f"{DIFFER[0]} the runtimes differ: {res.disagreement}")
        verbose = [_taken_line("Docker Engine", res.taken[DOCKER]), _taken_line("containerd", res.taken[CONTAINERD])]
        if advice.row is None:
            why = ("the node is older than every base" if oldest is not None and node.build.build < oldest.build
                   else "the rules forbid every image of this matrix here")
            answers.append(WhichAnswer(res.argo, None, None, why, warnings, [_one_tag_line(res)], verbose))
            continue
        pull = advice.row.pull
        reference = (pull.pinned + ("" if pull.digest else " (not published yet)")) if pull else advice.row.id
        verbose.append(f"preferred {advice.row.id}, picked by: {advice.rule}")
        answers.append(WhichAnswer(res.argo, reference, ISOLATION_LABELS[advice.isolation],
                                   _proof(advice.cell, advice.cell.rule), warnings, [_one_tag_line(res)], verbose))
    return answers


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


def which_text(node: Node, resolutions: list[Resolution], hosts: tuple, width: int | None = None,
               verbose: bool = False, oldest: WindowsBuild | None = None, note: str | None = None,
               notes: dict[str, list[str]] | None = None) -> str:
    """``invoke which``: the answer first, per Argo version: the reference to pull, the isolation, how sure, and
    the warnings; then which entry of the one tag the runtimes take (with ``verbose``: each runtime's rule and the
    preference). Every line wrapped to ``width``."""
    lines = [_node_heading(node, hosts, oldest)]
    for answer in which_answers(node, resolutions, oldest, notes):
        if answer.reference is None:
            lines.append(f"{answer.argo}: no image runs here: {answer.how_sure}")
        else:
            lines.append(f"{answer.argo}: pull {answer.reference}")
            lines.append(f"  isolation: {answer.isolation}")
            lines.append(f"  how sure: {answer.how_sure}")
        lines.extend(f"  ! {warning}" for warning in answer.warnings)
        lines.extend(f"  {detail}" for detail in answer.details)
        if verbose:
            lines.extend(f"  {detail}" for detail in answer.verbose)
    if note:
        lines.append(note)
    return "\n".join(out for line in lines for out in wrap(line, width))


def placeholder_note(table: Table) -> str | None:
    """While no tag of the publish repository is known to be there, one line saying the references are where the
    images would be (the matrix's ``registries.publish``), not images to pull yet."""
    if table.publication is None:
        return "no repository to pull from: set registries.publish in the matrix"
    if any(table.index(argo) is not None and table.index(argo).digest for argo in table.argo_versions()):
        return None
    return (f"note: {table.publication.repository} (registries.publish in matrix.yaml) has no image known: "
            "these references are placeholders until images are published there")


def which_json(node: Node, resolutions: list[Resolution], oldest: WindowsBuild | None = None,
               notes: dict[str, list[str]] | None = None) -> str:
    answers = []
    for res, answer in zip(resolutions, which_answers(node, resolutions, oldest, notes), strict=True):
        answers.append({**res.to_json(), "warnings": answer.warnings})
    answer = {"schema": 1, "node": node.to_json(), "label": LABEL,
              "supported": not (oldest is not None and node.build.build < oldest.build),
              "preferences": list(PREFERENCES), "answers": answers}
    return json.dumps(answer, indent=2, ensure_ascii=False) + "\n"


# argoproj/argo-helm, charts/argo-workflows: values.yaml `executor.image.registry`, `.repository`, `.tag`; the
# controller's Deployment passes them as `--executor-image REGISTRY/REPOSITORY:TAG`.
HELM_SOURCE = "argoproj/argo-helm charts/argo-workflows (values.yaml executor.image)"


def which_helm(node: Node, resolution: Resolution, repository: str) -> str:
    """The argo-workflows chart's values that make the one multi-platform tag the executor image."""
    from .reference import DOCKER_HUB, Reference

    ref = Reference.parse(repository)
    registry = "docker.io" if ref.registry == DOCKER_HUB else ref.registry
    index = resolution.index
    tag = resolution.argo + (f"@{index.digest}" if index is not None and index.digest else "")
    notes = [f"# {HELM_SOURCE}: the executor image for a hybrid cluster,",
             f"# the one tag {repository}:{resolution.argo} (every Windows build and Linux)."]
    for runtime in (DOCKER, CONTAINERD):
        taken = resolution.taken[runtime]
        what = f"its {taken.pick.entry.name} entry" if taken.pick.entry else "no entry"
        notes.append(f"# On {node.build}: {RUNTIME_LABELS[runtime]} takes {what}.")
    if resolution.disagreement:
        notes.append(f"# {DIFFER[0]} {resolution.disagreement}")
    if index is None or not index.digest:
        notes.append("# Not published yet (or not looked up): no digest to pin.")
    body = ["executor:", "  image:", f"    registry: {json.dumps(registry)}",
            f"    repository: {json.dumps(ref.repository)}", f"    tag: {json.dumps(tag)}"]
    return "\n".join(notes + body) + "\n"


# -- Markdown -----------------------------------------------------------------------------------


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
    return f"P{_symbol(cells['process'])} H{_symbol(cells['hyperv'])}"


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


# -- JSON ---------------------------------------------------------------------------------------


def to_json(table: Table) -> str:
    return json.dumps(table.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1rem;color:#111;background:#fff}
h1{font-size:1.4rem}
.warnings{overflow-wrap:anywhere}
.scroll{overflow:auto;max-width:100%;max-height:85vh;margin:1rem 0;border:1px solid #888;
scroll-padding:5.5rem 0 0 13.5rem}
table{border-collapse:separate;border-spacing:0}
th,td{border:1px solid #888;padding:.3rem .45rem;vertical-align:top;font-size:.85rem;background:#fff}
th{background:#eee}
thead th{position:sticky;top:0;z-index:2}
thead th:first-child{left:0;z-index:3}
th,td{box-sizing:border-box}
tbody th[scope=row],thead th:first-child{width:13rem;min-width:13rem;max-width:13rem}
tbody th[scope=row]{position:sticky;left:0;z-index:1;text-align:left;background:#f6f6f6}
tbody th[scope=row] code{overflow-wrap:break-word}
td.cell{min-width:4.5rem;white-space:nowrap;position:relative}
td.cell .verified-pass{font-weight:bold}
td.cell .verified-fail{font-weight:bold;text-decoration:underline}
td.cell .cannot-run{color:#555}
table.which td{min-width:9rem}
code{overflow-wrap:break-word}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
td .iso{display:inline;white-space:nowrap;cursor:help}
td.cell details{white-space:normal}
.seg{white-space:nowrap}
.banner{border:2px solid #8a5a00;background:#fff6e0;padding:.4rem .6rem;margin:.5rem 0}
.flag{font-weight:bold}
details{margin-top:.2rem}
summary{cursor:pointer}
.filters label,.my-node label{margin-right:1rem;display:inline-block}
.notice{border:2px solid #111;padding:.4rem .6rem;margin:.5rem 0;font-weight:bold}
.my-node{border:1px solid #888;padding:.5rem .7rem;margin:1rem 0}
.my-node pre{white-space:pre-wrap;overflow-wrap:break-word;font-size:.8rem;margin:0 0 .5rem}
@media (max-width:600px){body{margin:.5rem}.scroll{scroll-padding-left:10.5rem}
tbody th[scope=row],thead th:first-child{width:10rem;min-width:10rem;max-width:10rem}td.cell{min-width:4rem}
code.pull{font-size:.75rem}}
[hidden]{display:none!important}
"""

_SCRIPT = """
(function(){
  var argoSel=document.getElementById('argo-filter'), hostSel=document.getElementById('host-filter');
  var data=JSON.parse(document.getElementById('node-data').getAttribute('data-nodes'));
  var hostNotice=document.getElementById('host-notice'), emptyNotice=document.getElementById('empty-notice');
  var input=document.getElementById('node-input'), answer=document.getElementById('node-answer');
  function say(el,text){el.textContent=text; el.hidden=!text;}
  function column(text){
    var v=(text||'').trim(), low=v.toLowerCase(), label=data.label+'=';
    if(low.indexOf(label)===0){v=v.slice(label.length); low=v.toLowerCase();}
    if(Object.prototype.hasOwnProperty.call(data.spellings,low)){return {column:data.spellings[low]};}
    if(Object.prototype.hasOwnProperty.call(data.older,low)){return {build:data.older[low]};}
    var m=/^10\\.0\\.(\\d{1,6})(\\.\\d{1,7})?$/.exec(v);
    if(!m){return null;}
    var build=parseInt(m[1],10);
    for(var i=0;i<data.columns.length;i++){if(data.columns[i].build===build){return {column:data.columns[i].name};}}
    return {build:build};
  }
  function apply(){
    var argo=argoSel.value, host=hostSel.value, shown=0;
    document.querySelectorAll('section[data-argo]').forEach(function(s){
      s.hidden = argo!=='all' && s.getAttribute('data-argo')!==argo;});
    document.querySelectorAll('[data-host]').forEach(function(c){
      c.hidden = host!=='all' && c.getAttribute('data-host')!==host;});
    document.querySelectorAll('section[data-argo]').forEach(function(s){
      if(!s.hidden){shown+=s.querySelectorAll('td.cell:not([hidden])').length;}});
    say(emptyNotice, shown ? '' : 'No image matches these filters: choose another Argo version or host.');
    var parts=[]; if(argo!=='all'){parts.push('argo='+encodeURIComponent(argo));}
    if(host!=='all'){parts.push('host='+encodeURIComponent(host));}
    history.replaceState(null,'',parts.length?'#'+parts.join('&'):location.pathname);
  }
  function has(sel,value){return Array.prototype.some.call(sel.options,function(o){return o.value===value;});}
  function fromHash(){
    var problems=[];
    argoSel.value='all'; hostSel.value='all';
    location.hash.replace(/^#/,'').split('&').forEach(function(kv){
      if(!kv){return;}
      var p=kv.split('='), value=decodeURIComponent(p.slice(1).join('='));
      if(p[0]==='argo'){
        if(has(argoSel,value)){argoSel.value=value;}
        else{problems.push('Argo version "'+value+'" is not in this table (it has '+data.argo.join(', ')+')');}
      }
      if(p[0]==='host'){
        var found=column(value);
        input.value=value; answerNode();
        if(found&&found.column){hostSel.value=found.column;}
        else if(found&&found.build<data.oldest){problems.push(notSupported(found.build));}
        else if(found){problems.push('host "'+value+'" (build '+found.build+') has no column; '+rule(found.build));}
        else{problems.push('host "'+value+'" is unknown; use a column ('+data.columns.map(function(c){
          return c.name;}).join(', ')+'), an alias such as 2019 or ltsc2022, or a build such as 10.0.17763');}
      }});
    say(hostNotice, problems.length ? 'Showing all: '+problems.join('; ')+'.' : '');
  }
  function nearest(build){
    var older=data.columns.filter(function(c){return c.build<=build;}), pool=older.length?older:data.columns;
    return pool.reduce(function(a,b){return Math.abs(build-b.build)<Math.abs(build-a.build)?b:a;});
  }
  function rule(build){
    var ltsc=data.stable_abi, near=nearest(build), text;
    if(!ltsc.length||build<ltsc[0]){
      text='before 10.0.'+ltsc[0]+' process isolation needs the node\\'s own build: containerd takes only an entry '+
        'of build '+build+', Docker Engine the first entry not newer than the node (Hyper-V isolation only)';
    } else {
      var floor=ltsc.filter(function(b){return b<build;}).pop()||ltsc[0];
      text='from 10.0.'+ltsc[0]+' on, process isolation runs images of builds '+floor+' to '+build+
        ' (hcsshim\\'s stable-ABI window); containerd takes the newest entry in it, Docker Engine the first entry '+
        'not newer than the node';
    }
    return text+'; the nearest column is '+near.name+' ('+near.label+', 10.0.'+near.build+')';
  }
  function notSupported(build){
    var name=data.older_names[String(build)];
    return (name?name+' (10.0.'+build+')':'10.0.'+build)+': not supported: no nanoserver of this table runs there '+
      '(the oldest is 10.0.'+data.oldest+'; Windows runs no image newer than its host)';
  }
  function answerNode(){
    var found=column(input.value);
    answer.hidden=false;
    if(!found){answer.textContent='"'+input.value+'" is not a Windows node: give a build (10.0.17763), the value of '+
      'the node\\'s '+data.label+' label, or a release (2019, ltsc2022, win11).'; return;}
    if(found.column){answer.textContent=data.answers[found.column]; return;}
    if(found.build<data.oldest){answer.textContent=notSupported(found.build)+'.'; return;}
    var near=nearest(found.build);
    answer.textContent='10.0.'+found.build+' is no column of this table: '+rule(found.build)+
      '. Run invoke which --node 10.0.'+found.build+' for the full answer. The nearest column answers:\\n\\n'+
      data.answers[near.name];
  }
  document.getElementById('node-go').addEventListener('click',answerNode);
  input.addEventListener('keydown',function(e){if(e.key==='Enter'){answerNode();}});
  argoSel.addEventListener('change',function(){say(hostNotice,''); apply();});
  hostSel.addEventListener('change',function(){say(hostNotice,''); apply();
    if(hostSel.value!=='all'){input.value=hostSel.value; answerNode();}});
  window.addEventListener('hashchange',function(){fromHash(); apply();});
  fromHash(); apply();
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_ISO_LETTER = {"process": "P", "hyperv": "H"}


def _cell_html(row_id: str, host: str, cells: dict[str, Cell]) -> str:
    """A compact cell: a letter and a symbol per isolation (``P ○ H –``), the words for screen readers and in the
    hover title with the rule, and a verified cell's evidence behind a disclosure."""
    parts = []
    for iso, cell in cells.items():
        symbol, meaning = LEGEND[cell.state]
        flag = (f'<span class="flag" title="{_e(CONTRADICTION[1])}">{CONTRADICTION[0]}'
                f'<span class="vh"> contradicts the rules</span></span>' if cell.contradicts_rules else "")
        parts.append(f'<span class="iso {cell.state}" data-isolation="{iso}" data-state="{cell.state}" '
                     f'title="{ISOLATION_LABELS[iso]} isolation: {_e(meaning)}; rule: {_e(cell.rule)}">'
                     f'{_ISO_LETTER[iso]} {symbol}<span class="vh"> {ISOLATION_LABELS[iso]}: {SHORT[cell.state]}'
                     f'</span>{flag}</span> ')
    for iso, cell in cells.items():
        if cell.verified:
            ev = cell.evidence
            checks = "".join(f"<li>{_e(c)}: {_e(s)}</li>" for c, s in ev.checks)
            parts.append(f"<details><summary>{ISOLATION_LABELS[iso]} evidence</summary><ul>"
                         f"<li>date: {_e(ev.date)}</li><li>runner: {_e(ev.runner)}</li>"
                         f"<li>engine: {_e(ev.engine_version or '?')}</li><li>host: {_e(ev.host_os_version)}</li>"
                         f"<li>image: {_ref(ev.image_digest or '?')}</li>{checks}</ul></details>")
    return f'<td class="cell" data-image="{_e(row_id)}" data-host="{_e(host)}">{"".join(parts)}</td>'


def _ref(reference: str) -> str:
    """An image reference as HTML that a narrow screen breaks after ``/``, ``:`` and ``@``, never inside a name or
    tag (``v4.1.2-windows-1809`` stays whole, though a hyphen would allow a break); only a digest's 64 hex digits,
    wider than a phone's column, may break anywhere."""
    parts = [p for p in re.split(r"(?<=[/:@])", reference) if p]
    return "<wbr>".join(f'<span class="seg">{_e(p)}</span>' if len(p) <= 40 else _e(p) for p in parts)


def node_data(table: Table) -> dict:
    """What the page's "my node" box knows: every spelling of a column, and each column's answer as `invoke which`
    prints it (the same code), plus the stable-ABI builds for a build that is no column."""
    spellings: dict[str, str] = {}
    for host in table.hosts:
        spellings[host.build.base] = host.name
        for name in host.names:
            spellings[name.lower()] = host.name
    answers = {}
    for host in table.hosts:
        node = Node(host.build, host, host.name)
        answers[host.name] = which_text(node, resolve(table, node), table.hosts,
                                        note=placeholder_note(table))
    oldest = oldest_image(table)
    return {"label": LABEL, "spellings": spellings, "stable_abi": list(table.stable_abi),
            "older": {name: int(build.split(".")[2]) for name, build in OLDER_SPELLINGS.items()},
            "older_names": {str(build): name for build, name in OLDER_RELEASES.items()},
            "oldest": oldest.build if oldest else 0,
            "argo": table.argo_versions(),
            "columns": [{"name": h.name, "label": h.label, "build": h.build.build} for h in table.hosts],
            "answers": answers}


def _resolution_html(table: Table, argo: str) -> str:
    rows = []
    for host, res in column_resolutions(table, argo):
        cells = "".join(f"<td>{_e(text)}</td>" for text in resolution_cells(res))
        rows.append(f'<tr data-host="{_e(host.name)}" data-differ="{"yes" if res.disagreement else "no"}">'
                    f'<th scope="row">{_e(host.label)}<br>{_e(host.build.base)}</th>{cells}</tr>')
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in RESOLUTION_HEADERS)
    return (f'<div class="scroll"><table class="which"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _banner(table: Table) -> str:
    """While the references are placeholders (no image of the publish repository is known), a banner at the top
    of the page says so and names the setting."""
    if placeholder_note(table) is None:
        return ""
    if table.publication is None:
        where = "This table names no repository to pull from"
    else:
        where = (f"Every reference on this page points to <code>{_ref(table.publication.repository)}</code>, where "
                 "no image is known yet: a placeholder until the images are published there")
    return (f'<p class="banner" id="placeholder-banner" role="note"><strong>Not published yet.</strong> {where}. '
            "Set <code>registries.publish</code> in <code>matrix.yaml</code> to your registry (the nightly "
            "publishes to <code>vars.ARGOEXEC_REPO</code>, by default "
            "<code>ghcr.io/&lt;repository owner&gt;/argoexec</code>).</p>")


def to_html(table: Table) -> str:
    argo_options = "".join(f'<option value="{_e(a)}">{_e(a)}</option>' for a in table.argo_versions())
    host_options = "".join(f'<option value="{_e(h.name)}">{_e(h.label)} ({_e(h.build.base)})</option>'
                           for h in table.hosts)
    sections = []
    for argo in table.argo_versions():
        head = "".join(f'<th scope="col" data-host="{_e(h.name)}">{_e(h.label)}<br>{_e(h.build.base)}</th>'
                       for h in table.hosts)
        body = []
        for row in (r for r in table.rows if r.argo == argo):
            cells = "".join(_cell_html(row.id, h.name, row.cells[h.name]) for h in table.hosts)
            pull = (f'<br><code class="pull">{_ref(row.pull.pinned)}</code>' if row.pull and row.pull.digest
                    else f'<br><code class="pull">{_ref(row.pull.reference)}</code> (not published yet)' if row.pull
                    else "")
            body.append(f'<tr data-image="{_e(row.id)}"><th scope="row">{_e(row.id)}<br>'
                        f'{_e(row.os_version)}{pull}</th>{cells}</tr>')
        index = table.index(argo)
        pull_all = ""
        if index is not None:
            pull_all = (f'<p class="pull-all">Pull <code>{_ref(index.pinned)}</code>' +
                        ("" if index.digest else " (not published yet)") +
                        ": one tag for every Windows build (and Linux); each node takes the entry of its build.</p>")
        subject = f"<code>{_ref(index.reference)}</code>" if index is not None else "the one tag"
        which = (f"<p>Which entry of {subject} a node takes under Docker Engine and under containerd "
                 f"({_e(DIFFER[0])} where they differ), and the image to prefer where several run:</p>"
                 f"{_resolution_html(table, argo)}")
        sections.append(f'<section data-argo="{_e(argo)}"><h2>argoexec {_e(argo)}</h2>{pull_all}'
                        f'<div class="scroll"><table class="images">'
                        f'<thead><tr><th scope="col">image (base build)</th>{head}</tr></thead>'
                        f'<tbody>{"".join(body)}</tbody></table></div>{which}</section>')
    # The legend is plain text: a check's description may quote a command in Markdown's backticks.
    legend = "".join(f"<li>{_e(line.replace('`', ''))}</li>" for line in legend_lines())
    # The page loads nothing from elsewhere and names no http(s) address: a link is shown as host/path.
    warnings = "".join(f"<li>warning: {_e(line.replace('https://', ''))}</li>" for line in table.warnings)
    data = _e(json.dumps(node_data(table), sort_keys=True, ensure_ascii=False))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>argoexec for Windows: compatibility</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>argoexec images for Windows nodes</h1>{_banner(table)}"
        "<div class=\"my-node\"><pre id=\"node-answer\" aria-live=\"polite\" hidden></pre>"
        "<label>My node: <input id=\"node-input\" type=\"text\" size=\"24\" "
        "placeholder=\"10.0.17763, 2019 or ltsc2022\" aria-describedby=\"node-help\"></label>"
        "<button type=\"button\" id=\"node-go\">Which image?</button>"
        f"<p id=\"node-help\">A build, the value of the node's <code>{_e(LABEL)}</code> label "
        "(<code>kubectl get node NAME -L " + _e(LABEL) + "</code>), or a release name. The answer is "
        "<code>invoke which --node</code>'s.</p></div>"
        "<p>Which argoexec image runs on which Windows node, with which isolation, and how we know: "
        "verified cells show their evidence; the others are the rules' prediction.</p>"
        f"<div id=\"node-data\" hidden data-nodes=\"{data}\"></div>"
        f"<ul class=\"legend\">{legend}</ul>"
        + (f"<ul class=\"warnings\">{warnings}</ul>" if warnings else "") +
        "<div class=\"filters\"><label>Argo version <select id=\"argo-filter\"><option value=\"all\">all</option>"
        f"{argo_options}</select></label><label>Host <select id=\"host-filter\"><option value=\"all\">all</option>"
        f"{host_options}</select></label></div>"
        "<p class=\"notice\" id=\"host-notice\" role=\"status\" hidden></p>"
        "<p class=\"notice\" id=\"empty-notice\" role=\"status\" hidden></p>"
        f"{''.join(sections)}"
        f"<p>{table.records} result records.</p>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def check_readme(readme: Path | None) -> str | None:
    """The README to update must exist and hold one pair of section markers (checked before writing
    anything); its text."""
    if readme is None:
        return None
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        raise InputError(f"--readme {readme}: no such file; pass --readme '' to skip the README") from None
    problem = readme_section_problem(text)
    if problem:
        raise InputError(f"--readme {readme}: {problem}, or pass --readme ''")
    return text


def write_outputs(table: Table, docs: Path, readme: Path | None, dry_run: bool = False) -> list[tuple[Path, bool]]:
    """docs/compatibility.md, docs/compatibility.json, docs/index.html and the README section: each path and
    whether it changed. A file whose text is already that is left alone; ``dry_run`` writes nothing."""
    # The README is checked and its new text made first: a README that cannot be updated leaves
    # every output as it was.
    current = check_readme(readme)
    updated = None if current is None else replace_readme_section(current, to_readme_summary(table))
    markdown = to_markdown(table)
    outputs = [(docs / name, text) for name, text in (
        ("compatibility.md", "# argoexec for Windows: compatibility\n\n" + markdown),
        ("compatibility.json", to_json(table)), ("index.html", to_html(table)))]
    if readme is not None:
        outputs.append((readme, updated))
    results = []
    for path, text in outputs:
        changed = not _holds(path, text)
        if changed and not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A temporary name of its own: publishes into one folder run at once, and a publish running at once
            # never reads half a file.
            write_atomically(path, text)
        results.append((path, changed))
    return results


def _holds(path: Path, text: str) -> bool:
    """Whether ``path`` is a regular file (not a link) whose text is ``text``."""
    try:
        return path.is_file() and not path.is_symlink() and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
