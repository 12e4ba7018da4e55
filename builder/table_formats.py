"""The compatibility table as text, Markdown, JSON and HTML, all from one model (``table``).

Every output is deterministic (same records, same bytes) and readable without colour: each state
has a symbol and a word. The HTML page is self-contained (inline CSS and script, no external
asset), filterable by Argo version and host (also from the URL: ``#argo=v4.1.2&host=2025``), and
each verified cell shows its evidence.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from . import checks as checks_mod
from .errors import InputError
from .files import write_atomically
from .table import (
    CANNOT_RUN,
    CONTRADICTION,
    ISOLATION_LABELS,
    LEGEND,
    PREDICTED,
    VERIFIED_FAIL,
    VERIFIED_PASS,
    Advice,
    Cell,
    Table,
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
    rows = tuple(r for r in table.rows if r.argo in argo)
    return Table(table.hosts, rows, table.records, table.unplaced, table.publication)


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


def legend_lines(hosts: tuple = ()) -> list[str]:
    """The legend; with ``hosts``, a line per host column: ``1809 = Windows Server 2019 (1809), 10.0.17763``."""
    lines = [f"{symbol} {meaning}" for symbol, meaning in LEGEND.values()]
    lines.append(f"{CONTRADICTION[0]} {CONTRADICTION[1]}")
    lines.append("P = process isolation, H = Hyper-V isolation")
    lines.append("a cell is verified by the smoke checks " + ", ".join(
        f"{check.name} ({check.description})" for check in checks_mod.CHECKS
        if check.smoke and "windows" in check.oses))
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
    for line in legend_lines(table.hosts):
        console.print(line, markup=False, highlight=False)


def advice_text(host_label: str, host_build: str, advice: list[Advice]) -> str:
    lines = [f"On {host_label} ({host_build}):"]
    for item in advice:
        if item.row is None:
            lines.append(f"  {item.argo}: no image runs here")
            continue
        how = ISOLATION_LABELS[item.isolation]
        if item.cell.state == VERIFIED_PASS:
            ev = item.cell.evidence
            proof = f"verified {ev.date[:10]} on {ev.runner} (engine {ev.engine_version or '?'})"
        else:
            proof = "predicted by the rules, not yet verified"
        lines.append(f"  {item.argo}: {item.row.id} with {how} isolation: {proof}")
    lines.append("  (the index tag <argo> holds every base: nodes pick the right one by os.version)")
    return "\n".join(lines)


def advice_json(host, advice: list[Advice]) -> str:
    answer = {"host": {"name": host.name, "label": host.label, "build": host.build.base}, "advice": [
        {"argo": item.argo, "image": item.row.id if item.row else None, "isolation": item.isolation,
         "state": item.cell.state if item.cell else None,
         "evidence": item.cell.evidence.to_json() if item.cell and item.cell.evidence else None}
        for item in advice]}
    return json.dumps(answer, indent=2, ensure_ascii=False) + "\n"


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


def to_markdown(table: Table, heading_level: int = 2) -> str:
    hashes = "#" * heading_level
    out = ["Legend: " + "; ".join(legend_lines()) + ".", ""]
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
        out.append("| image (base) | " + " | ".join(md_text(h.name) for h in table.hosts) + " |")
        out.append("|---|" + "---|" * len(table.hosts))
        for row in rows:
            out.append(f"| {md_code(row.id)} ({md_text(row.os_version)}) | "
                       + " | ".join(_compact(row.cells[h.name]) for h in table.hosts) + " |")
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
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111;background:#fff}
table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #888;padding:.3rem .45rem;vertical-align:top;font-size:.85rem}
th{background:#eee}
th[scope=row]{white-space:nowrap;text-align:left}
td .iso{display:block;white-space:nowrap}
td.cell .verified-pass{font-weight:bold}
td.cell .verified-fail{font-weight:bold;text-decoration:underline}
td.cell .cannot-run{color:#555}
.flag{font-weight:bold}
details{margin-top:.2rem}
summary{cursor:pointer}
.filters label{margin-right:1rem}
[hidden]{display:none!important}
"""

_SCRIPT = """
(function(){
  var argoSel=document.getElementById('argo-filter'), hostSel=document.getElementById('host-filter');
  function apply(){
    var argo=argoSel.value, host=hostSel.value;
    document.querySelectorAll('section[data-argo]').forEach(function(s){
      s.hidden = argo!=='all' && s.getAttribute('data-argo')!==argo;});
    document.querySelectorAll('[data-host]').forEach(function(c){
      c.hidden = host!=='all' && c.getAttribute('data-host')!==host;});
    var parts=[]; if(argo!=='all'){parts.push('argo='+argo);} if(host!=='all'){parts.push('host='+host);}
    history.replaceState(null,'',parts.length?'#'+parts.join('&'):location.pathname);
  }
  function fromHash(){
    argoSel.value='all'; hostSel.value='all';
    location.hash.replace(/^#/,'').split('&').forEach(function(kv){
      var p=kv.split('='); if(p[0]==='argo'){argoSel.value=decodeURIComponent(p[1]);}
      if(p[0]==='host'){hostSel.value=decodeURIComponent(p[1]);}});
  }
  argoSel.addEventListener('change',apply); hostSel.addEventListener('change',apply);
  window.addEventListener('hashchange',function(){fromHash(); apply();});
  fromHash(); apply();
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell_html(row_id: str, host: str, cells: dict[str, Cell]) -> str:
    parts = []
    for iso, cell in cells.items():
        symbol, meaning = LEGEND[cell.state]
        flag = (f' <span class="flag" title="{_e(CONTRADICTION[1])}">{CONTRADICTION[0]} contradicts the rules</span>'
                if cell.contradicts_rules else "")
        parts.append(f'<span class="iso {cell.state}" data-isolation="{iso}" data-state="{cell.state}" '
                     f'title="{_e(meaning)}; rule: {_e(cell.rule)}">{ISOLATION_LABELS[iso]}: {symbol} '
                     f'{SHORT[cell.state]}{flag}</span>')
        if cell.verified:
            ev = cell.evidence
            checks = "".join(f"<li>{_e(c)}: {_e(s)}</li>" for c, s in ev.checks)
            parts.append(f"<details><summary>{ISOLATION_LABELS[iso]} evidence</summary><ul>"
                         f"<li>date: {_e(ev.date)}</li><li>runner: {_e(ev.runner)}</li>"
                         f"<li>engine: {_e(ev.engine_version or '?')}</li><li>host: {_e(ev.host_os_version)}</li>"
                         f"<li>image: {_e(ev.image_digest or '?')}</li>{checks}</ul></details>")
    return f'<td class="cell" data-image="{_e(row_id)}" data-host="{_e(host)}">{"".join(parts)}</td>'


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
            pull = (f'<br><code class="pull">{_e(row.pull.pinned)}</code>' if row.pull and row.pull.digest
                    else f'<br><code class="pull">{_e(row.pull.reference)}</code> (not published yet)' if row.pull
                    else "")
            body.append(f'<tr data-image="{_e(row.id)}"><th scope="row">{_e(row.id)}<br>'
                        f'{_e(row.os_version)}{pull}</th>{cells}</tr>')
        index = table.index(argo)
        pull_all = ""
        if index is not None:
            pull_all = (f'<p class="pull-all">Pull <code>{_e(index.pinned)}</code>' +
                        ("" if index.digest else " (not published yet)") +
                        ": one tag for every Windows build (and Linux); each node takes the entry of its build.</p>")
        sections.append(f'<section data-argo="{_e(argo)}"><h2>argoexec {_e(argo)}</h2>{pull_all}<table>'
                        f'<thead><tr><th scope="col">image (base build)</th>{head}</tr></thead>'
                        f'<tbody>{"".join(body)}</tbody></table></section>')
    legend = "".join(f"<li>{_e(line)}</li>" for line in legend_lines())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>argoexec for Windows: compatibility</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>argoexec images for Windows nodes</h1>"
        "<p>Which argoexec image runs on which Windows node, with which isolation, and how we know: "
        "verified cells show their evidence; the others are the rules' prediction.</p>"
        f"<ul class=\"legend\">{legend}</ul>"
        "<div class=\"filters\"><label>Argo version <select id=\"argo-filter\"><option value=\"all\">all</option>"
        f"{argo_options}</select></label><label>Host <select id=\"host-filter\"><option value=\"all\">all</option>"
        f"{host_options}</select></label></div>"
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


def write_outputs(table: Table, docs: Path, readme: Path | None) -> list[Path]:
    """docs/compatibility.md, docs/compatibility.json, docs/index.html and the README section."""
    # The README is checked and its new text made first: a README that cannot be updated leaves
    # every output as it was.
    current = check_readme(readme)
    updated = None if current is None else replace_readme_section(current, to_markdown(table, heading_level=4))
    docs.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(table)
    written = []
    for name, text in (("compatibility.md", "# argoexec for Windows: compatibility\n\n" + markdown),
                       ("compatibility.json", to_json(table)), ("index.html", to_html(table))):
        path = docs / name
        write_atomically(path, text)  # a temporary name of its own: publishes into one folder run at once
        written.append(path)
    if readme is not None:
        if updated != current:
            write_atomically(readme, updated)  # a publish running at once must never read half a README
        written.append(readme)
    return written
