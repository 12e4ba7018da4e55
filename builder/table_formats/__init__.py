"""The compatibility table's outputs, all from one model (``table``), one module each.

- ``common``: what every format shares (a cell's symbols, the legend, what to pull, each column's resolution).
- ``text``: the terminal's tables at its width, and ``wrap``.
- ``markdown``: docs/compatibility.md, every record value as text (``md_text``, ``md_code``).
- ``json``: docs/compatibility.json.
- ``html``: docs/index.html from ``templates/page.html.j2`` (Jinja2, autoescape) with ``static/page.css`` and
  ``static/page.js`` inlined (package data: the page loads nothing from elsewhere).
- ``readme``: the README's compatibility section between its markers.
- ``which``: ``invoke which``'s answer for one node as text, JSON and Helm values.
- ``outputs``: writing the files, each whole, the README checked first.

Every output is deterministic (same records, same bytes) and readable without colour: each state has a symbol
and a word. Everything other modules use is importable from ``builder.table_formats``.
"""

from .common import (
    RESOLUTION_HEADERS,
    SHORT,
    column_resolutions,
    legend_lines,
    only_argo,
    placeholder_note,
    pull_lines,
    resolution_cells,
)
from .html import node_data, to_html
from .json import to_json
from .markdown import md_code, md_text, to_markdown
from .outputs import check_readme, write_outputs
from .readme import README_END, README_START, readme_section_problem, replace_readme_section, to_readme_summary
from .text import to_text, wrap
from .which import HELM_SOURCE, WhichAnswer, which_answers, which_helm, which_json, which_text

__all__ = [
    "HELM_SOURCE", "README_END", "README_START", "RESOLUTION_HEADERS", "SHORT", "WhichAnswer", "check_readme",
    "column_resolutions", "legend_lines", "md_code", "md_text", "node_data", "only_argo", "placeholder_note",
    "pull_lines", "readme_section_problem", "replace_readme_section", "resolution_cells", "to_html", "to_json",
    "to_markdown", "to_readme_summary", "to_text", "which_answers", "which_helm", "which_json", "which_text", "wrap",
    "write_outputs",
]
