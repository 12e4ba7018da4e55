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


def _node_heading(node: Node, hosts: tuple) -> str:
    if node.column is not None:
        return f"On {node.column.label} ({node.build}):"
    near = nearest_column(hosts, node.build)
    nearest = f"; the nearest column is {near.name} = {near.label} ({near.build.base})" if near else ""
    return f"On a {node.build} node (no column of the table: the rules decide{nearest}):"


def _proof(cell: Cell) -> str:
    if cell.state == VERIFIED_PASS:
        ev = cell.evidence
        return f"verified {ev.date[:10]} on {ev.runner} (engine {ev.engine_version or '?'})"
    return "predicted by the rules, not yet verified"


def _taken_line(label: str, taken: Taken) -> str:
    pick = taken.pick
    if pick.entry is None:
        return f"{label}: no entry: {pick.rule}"
    how = (f"runs with {ISOLATION_LABELS[taken.placement.isolation]} isolation" if taken.placement and
           taken.placement.isolation else f"cannot run it ({taken.placement.reason})" if taken.placement else "")
    state = f", {SHORT[taken.cell.state]}" if taken.cell and taken.placement and taken.placement.isolation else ""
    return f"{label}: the {pick.entry.name} entry ({pick.entry.os_version}): {pick.rule}; {how}{state}"


def which_text(node: Node, resolutions: list[Resolution], hosts: tuple,
               warnings: dict[str, list[str]] | None = None) -> str:
    """``invoke which``: per Argo version, what to pull on this node, with which isolation, how sure, and which
    entry of the one tag each runtime takes; then its warnings (builder/node_notes.py), a line each."""
    lines = [_node_heading(node, hosts)]
    for res in resolutions:
        lines.extend(_which_answer(res))
        lines.extend(f"    warning: {warning}" for warning in (warnings or {}).get(res.argo, []))
    return "\n".join(lines)


def _which_answer(res: Resolution) -> list[str]:
    lines: list[str] = []
    advice = res.preferred
    if advice.row is None:
        lines.append(f"  {res.argo}: no image runs here")
    else:
        lines.append(f"  {res.argo}: {advice.row.id} with {ISOLATION_LABELS[advice.isolation]} isolation: "
                     f"{_proof(advice.cell)}")
    if res.index is not None:
        state = "" if res.index.digest else " (not published yet)"
        lines.append(f"    pull {res.index.pinned}{state}: the one tag for every node; on this node:")
    else:
        lines.append("    the one tag (no repository known; set registries.publish) resolves, on this node:")
    lines.append("      " + _taken_line("Docker Engine", res.taken[DOCKER]))
    lines.append("      " + _taken_line("containerd", res.taken[CONTAINERD]))
    if res.disagreement:
        lines.append(f"    {DIFFER[0]} the runtimes differ: {res.disagreement}")
    if advice.row is not None:
        per_base = advice.row.pull
        where = (f" ({per_base.pinned}" + ("" if per_base.digest else ", not published yet") + ")"
                 if per_base else "")
        lines.append(f"    preferred: {advice.row.id}{where}, {ISOLATION_LABELS[advice.isolation]} isolation; "
                     f"picked by: {advice.rule}")
        lines.append(f"    why it runs: {advice.cell.rule}")
    return lines


def which_json(node: Node, resolutions: list[Resolution], warnings: dict[str, list[str]] | None = None) -> str:
    answers = [{**r.to_json(), "warnings": list((warnings or {}).get(r.argo, []))} for r in resolutions]
    answer = {"schema": 1, "node": node.to_json(), "label": LABEL,
              "preferences": list(PREFERENCES), "answers": answers}
    return json.dumps(answer, indent=2, ensure_ascii=False) + "\n"


# argoproj/argo-helm, charts/argo-workflows: values.yaml `executor.image.registry`, `.repository`, `.tag`; the
# controller's Deployment passes them as `--executor-image REGISTRY/REPOSITORY:TAG`.
HELM_SOURCE = "argoproj/argo-helm charts/argo-workflows (values.yaml executor.image)"


def which_helm(node: Node, resolution: Resolution, repository: str) -> str:
    """The argo-workflows chart's values that make the one multi-platform tag the executor image."""
    from .registry.reference import DOCKER_HUB, Reference

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
        out.append("| image (base) | " + " | ".join(md_text(h.name) for h in table.hosts) + " |")
        out.append("|---|" + "---|" * len(table.hosts))
        for row in rows:
            out.append(f"| {md_code(row.id)} ({md_text(row.os_version)}) | "
                       + " | ".join(_compact(row.cells[h.name]) for h in table.hosts) + " |")
        out.append("")
        subject = f"of {md_code(index.reference)}" if index is not None else "of the one tag"
        out.append(f"Which entry {subject} a node takes (Docker Engine and containerd select differently; "
                   f"{DIFFER[0]} where they differ), and the image to prefer where several run:")
        out.append("")
        out.append("| " + " | ".join(RESOLUTION_HEADERS) + " |")
        out.append("|---|---|---|---|")
        for host, res in column_resolutions(table, argo):
            out.append(f"| {md_text(host.name)} | " + " | ".join(md_text(c) for c in resolution_cells(res)) + " |")
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
tbody th[scope=row] code{overflow-wrap:anywhere}
td.cell{min-width:7.5rem}
td .iso{display:block}
td.cell .verified-pass{font-weight:bold}
td.cell .verified-fail{font-weight:bold;text-decoration:underline}
td.cell .cannot-run{color:#555}
table.which td{min-width:9rem}
code{overflow-wrap:anywhere}
.flag{font-weight:bold}
details{margin-top:.2rem}
summary{cursor:pointer}
.filters label,.my-node label{margin-right:1rem;display:inline-block}
.notice{border:2px solid #111;padding:.4rem .6rem;margin:.5rem 0;font-weight:bold}
.my-node{border:1px solid #888;padding:.5rem .7rem;margin:1rem 0}
.my-node pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem}
@media (max-width:600px){body{margin:.5rem}.scroll{scroll-padding-left:7.5rem}
tbody th[scope=row],thead th:first-child{width:7rem;min-width:7rem;max-width:7rem}td.cell{min-width:6.5rem}}
[hidden]{display:none!important}
"""

_SCRIPT = """
(function(){
  var argoSel=document.getElementById('argo-filter'), hostSel=document.getElementById('host-filter');
  var data=JSON.parse(document.getElementById('node-data').getAttribute('data-nodes'));
  var hostNotice=document.getElementById('host-notice'), emptyNotice=document.getElementById('empty-notice');
  function say(el,text){el.textContent=text; el.hidden=!text;}
  function column(text){
    var v=(text||'').trim(), low=v.toLowerCase(), label=data.label+'=';
    if(low.indexOf(label)===0){v=v.slice(label.length); low=v.toLowerCase();}
    if(Object.prototype.hasOwnProperty.call(data.spellings,low)){return {column:data.spellings[low]};}
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
        if(found&&found.column){hostSel.value=found.column;}
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
  var input=document.getElementById('node-input'), answer=document.getElementById('node-answer');
  function answerNode(){
    var found=column(input.value);
    if(!found){answer.textContent='"'+input.value+'" is not a Windows node: give a build (10.0.17763), the value of '+
      'the node\\'s '+data.label+' label, or a release (2019, ltsc2022, win11).'; return;}
    if(found.column){answer.textContent=data.answers[found.column]; return;}
    var near=nearest(found.build);
    answer.textContent='10.0.'+found.build+' is no column of this table: '+rule(found.build)+
      '. Run `invoke which --node 10.0.'+found.build+'` for the full answer. The nearest column answers:\\n\\n'+
      data.answers[near.name];
  }
  document.getElementById('node-go').addEventListener('click',answerNode);
  input.addEventListener('keydown',function(e){if(e.key==='Enter'){answerNode();}});
  argoSel.addEventListener('change',function(){say(hostNotice,''); apply();});
  hostSel.addEventListener('change',function(){say(hostNotice,''); apply();});
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
        answers[host.name] = which_text(node, resolve(table, node), table.hosts)
    return {"label": LABEL, "spellings": spellings, "stable_abi": list(table.stable_abi),
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
        subject = f"<code>{_e(index.reference)}</code>" if index is not None else "the one tag"
        which = (f"<p>Which entry of {subject} a node takes under Docker Engine and under containerd "
                 f"({_e(DIFFER[0])} where they differ), and the image to prefer where several run:</p>"
                 f"{_resolution_html(table, argo)}")
        sections.append(f'<section data-argo="{_e(argo)}"><h2>argoexec {_e(argo)}</h2>{pull_all}'
                        f'<div class="scroll"><table class="images">'
                        f'<thead><tr><th scope="col">image (base build)</th>{head}</tr></thead>'
                        f'<tbody>{"".join(body)}</tbody></table></div>{which}</section>')
    legend = "".join(f"<li>{_e(line)}</li>" for line in legend_lines())
    # The page loads nothing from elsewhere and names no http(s) address: a link is shown as host/path.
    warnings = "".join(f"<li>warning: {_e(line.replace('https://', ''))}</li>" for line in table.warnings)
    data = _e(json.dumps(node_data(table), sort_keys=True, ensure_ascii=False))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>argoexec for Windows: compatibility</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>argoexec images for Windows nodes</h1>"
        "<p>Which argoexec image runs on which Windows node, with which isolation, and how we know: "
        "verified cells show their evidence; the others are the rules' prediction.</p>"
        "<div class=\"my-node\"><label>My node: <input id=\"node-input\" type=\"text\" size=\"28\" "
        f"placeholder=\"10.0.17763, 2019 or ltsc2022\" aria-describedby=\"node-help\"></label>"
        "<button type=\"button\" id=\"node-go\">Which image?</button>"
        f"<p id=\"node-help\">A build, the value of the node's <code>{_e(LABEL)}</code> label "
        "(<code>kubectl get node NAME -L " + _e(LABEL) + "</code>), or a release name. The answer is "
        "<code>invoke which --node</code>'s.</p>"
        "<pre id=\"node-answer\" aria-live=\"polite\"></pre></div>"
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
    updated = None if current is None else replace_readme_section(current, to_markdown(table, heading_level=4))
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
