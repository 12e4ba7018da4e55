"""The table as one HTML page (docs/index.html), from a Jinja2 template with autoescape.

The page is self-contained: its CSS and script (``static/page.css``, ``static/page.js``, package data) are
inlined, and it loads nothing from elsewhere. It is filterable by Argo version and host (also from the URL:
``#argo=v4.1.2&host=2025``); each verified cell shows its evidence; the "my node" box leads with the answer
``invoke which`` gives (the same code, ``which_text``), filled from ``#host=``.

Every value reaches the page through autoescape (a record's fields come from any runner's JSON), and markup
built in Python is only ``ref``'s, from escaped parts. The template (``templates/page.html.j2``) is written
one element a line for reading; its lines are joined without the line breaks and indentation between them
(``_JoinedLines``), so the page is the one line it always was and no whitespace appears between inline
elements by accident: a space that belongs in the page is written inside a line.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

import jinja2
from markupsafe import Markup, escape

from ..table import (
    CONTRADICTION,
    DIFFER,
    ISOLATION_LABELS,
    LABEL,
    LEGEND,
    OLDER_RELEASES,
    OLDER_SPELLINGS,
    Node,
    Table,
    oldest_image,
    resolve,
)
from .common import RESOLUTION_HEADERS, SHORT, column_resolutions, legend_lines, placeholder_note, resolution_cells
from .which import which_text

PACKAGE = __package__
ISO_LETTER = {"process": "P", "hyperv": "H"}
_LINE_JOINS = re.compile(r"[ \t]*\n[ \t]*")


class _JoinedLines(jinja2.BaseLoader):
    """The package's templates with their lines joined: a line break and the indentation around it vanish."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, None, None]:
        path = resources.files(PACKAGE) / "templates" / template
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise jinja2.TemplateNotFound(template) from None
        return _LINE_JOINS.sub("", source.strip("\n")), None, None


def static(name: str) -> str:
    """A static file of the page (``page.css``, ``page.js``) as the page inlines it; it must not be able to end
    its ``<style>`` or ``<script>`` element early."""
    text = (resources.files(PACKAGE) / "static" / name).read_text(encoding="utf-8")
    if re.search(r"</(style|script)", text, re.IGNORECASE):
        raise ValueError(f"static/{name} holds a closing style or script tag; it would end its element early")
    return text


def ref(reference: object) -> Markup:
    """An image reference as HTML that a narrow screen breaks after ``/``, ``:`` and ``@``, never inside a name or
    tag (``v4.1.2-windows-1809`` stays whole, though a hyphen would allow a break); only a digest's 64 hex digits,
    wider than a phone's column, may break anywhere."""
    parts = [p for p in re.split(r"(?<=[/:@])", str(reference)) if p]
    return Markup("<wbr>").join(Markup('<span class="seg">{}</span>').format(p) if len(p) <= 40 else escape(p)
                                for p in parts)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=_JoinedLines(), autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=False)
    env.filters["ref"] = ref
    env.globals.update(LEGEND=LEGEND, CONTRADICTION=CONTRADICTION, DIFFER=DIFFER, ISOLATION_LABELS=ISOLATION_LABELS,
                       ISO_LETTER=ISO_LETTER, SHORT=SHORT, LABEL=LABEL, RESOLUTION_HEADERS=RESOLUTION_HEADERS)
    return env


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


def _section(table: Table, argo: str) -> dict:
    """One Argo version's part of the page: its images (rows), the one tag, and each host column's resolution."""
    return {"argo": argo, "index": table.index(argo), "rows": [r for r in table.rows if r.argo == argo],
            "resolutions": [(host, res, resolution_cells(res)) for host, res in column_resolutions(table, argo)]}


def to_html(table: Table) -> str:
    page = _environment().get_template("page.html.j2").render(
        table=table, sections=[_section(table, argo) for argo in table.argo_versions()],
        placeholder=placeholder_note(table) is not None,
        # The legend is plain text: a check's description may quote a command in Markdown's backticks.
        legend=[line.replace("`", "") for line in legend_lines()],
        # The page loads nothing from elsewhere and names no http(s) address: a link is shown as host/path.
        warnings=[line.replace("https://", "") for line in table.warnings],
        data=json.dumps(node_data(table), sort_keys=True, ensure_ascii=False),
        css=Markup(static("page.css")), script=Markup(static("page.js")))
    return page + "\n"
