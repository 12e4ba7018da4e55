"""Record fields are text on every page: no value becomes Markdown, HTML or a README marker.

Records come from any runner's JSON, so their strings are hostile until shown otherwise. The
Markdown is checked the way GitHub shows it: rendered as CommonMark with raw HTML on (and GFM
tables). The same records in a real browser: tests/test_table_page.py.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from builder import store
from builder import table as table_mod
from builder.errors import InputError
from builder.matrix import load_matrix
from builder.table_formats import README_END, README_START, to_markdown, write_outputs
from tests import matrix_facts
from tests.cli import invoke
from tests.test_table import both_checks

# What an attacker would put in a runner name, an engine version or an image digest.
PAYLOADS = (
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "[click](javascript:window.__pwned='link')",
    "![i](javascript:window.__pwned='image')",
    "<a href=\"javascript:window.__pwned = 'a'\">a</a>",
    "<svg onload=\"window.__pwned = 'svg'\"></svg><iframe srcdoc=\"<script>parent.__pwned=1</script>\"></iframe>",
    "`<img src=x onerror=\"window.__pwned = 'code'\">`",
    "&lt;script&gt;window.__pwned = 'entity'&lt;/script&gt;",
    "# heading in a value",
    "| cell | split |",
    "<!-- an unclosed comment hides the rest",
    README_END,
    README_START,
)
# A line break would let a value start a line of its own (a heading): refused on import, and
# replaced by a space if such a record reached the page some other way.
HEADING_ON_ITS_OWN_LINE = "x\n# injected heading\n<script>window.__pwned = 'line'</script>"
# (target, host os.version) pairs whose process and Hyper-V cells are verified by the records below.
# Every image on a host of its own build: both isolations run there.
CELLS = [(matrix_facts.target_id(release.name, argo), f"{release.build.base}.1")
         for argo in matrix_facts.ARGO_TAGS for release in matrix_facts.RELEASES]


def hostile_records(with_line_break: bool = True) -> list[dict]:
    """Both smoke checks of one cell per payload, the payload in every free-text field shown."""
    payloads = PAYLOADS + ((HEADING_ON_ITS_OWN_LINE,) if with_line_break else ())
    assert len(payloads) <= 2 * len(CELLS)
    records = []
    for index, payload in enumerate(payloads):
        target, host = CELLS[index // 2]
        records += both_checks(target=target, host=host, isolation=("process", "hyperv")[index % 2],
                               runner=payload, engine_version=payload, image_digest=payload)
    return records


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def elements(html_text: str) -> _Elements:
    parser = _Elements()
    parser.feed(html_text)
    parser.close()
    return parser


RENDERERS = {"commonmark": MarkdownIt("commonmark", {"html": True}),
             "commonmark + GFM tables": MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])}


@pytest.mark.parametrize("renderer", RENDERERS)
def test_markdown_shows_record_values_as_text(renderer):
    model = table_mod.build_table(load_matrix(), hostile_records())  # not validated: the page alone holds
    markdown = to_markdown(model)
    found = elements(RENDERERS[renderer].render(markdown))
    tags = [tag for tag, _ in found.tags]
    assert not {"script", "img", "svg", "iframe", "a", "style"} & set(tags)
    assert [tag for tag in tags if tag[0] == "h" and tag[1:].isdigit()] == ["h2"] * len(model.argo_versions())
    assert not [(tag, name) for tag, attrs in found.tags for name in attrs if name.startswith("on")]
    text = "".join(found.text)
    for payload in PAYLOADS:
        assert payload in text  # shown, exactly as the runner wrote it
    assert HEADING_ON_ITS_OWN_LINE.replace("\n", " ") in text
    assert README_START not in markdown and README_END not in markdown
    if "tables" in renderer:  # every row of a table has its columns, whatever the records hold
        # Per Argo version one table, images x hosts (the resolution is a list: a bullet per host).
        rows = [line for line in markdown.splitlines() if line.startswith("| ")]
        argos, columns = len(model.argo_versions()), len(model.hosts) + 1
        assert tags.count("tr") == len(rows)
        assert tags.count("th") == argos * columns
        assert tags.count("td") == len(model.rows) * columns
        assert tags.count("li") >= argos * len(model.hosts)


def test_identifiers_with_line_breaks_or_control_characters_are_refused_on_import(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    good = both_checks()[0]
    bad = {"newline.json": {**good, "runner": "a\n# heading"}, "cr.json": {**good, "engine_version": "20.10\r9"},
           "escape.json": {**good, "image_digest": "sha256:1\x1b[2J"}, "separator.json": {**good, "check": "x\u2028y"},
           "trailing-newline.json": {**good, "target": good["target"] + "\n"}}
    for name, data in bad.items():
        (folder / name).write_text(json.dumps(data))
    # A log is many lines: only the identifiers must be one.
    (folder / "log.json").write_text(json.dumps({**good, "log_excerpt": "line 1\r\nline 2\ttab\x1b[0m"}))
    result = invoke("results.import", "--dir", str(folder), "--db", str(tmp_path / "r.sqlite"))
    assert result.returncode == 1
    field = {"newline.json": "runner", "cr.json": "engine_version", "escape.json": "image_digest",
             "separator.json": "check", "trailing-newline.json": "target"}
    for name in bad:
        assert f"skipped: {folder / name}: {field[name]} holds a line break or control character\n" in result.stdout
    assert "imported 1 record (0 already known, 5 skipped)" in result.stdout
    assert [r["log_excerpt"] for r in store.all_records(store.connect(tmp_path / "r.sqlite"))] == \
        ["line 1\r\nline 2\ttab\x1b[0m"]


def _publish(tmp_path: Path, folder: Path, readme: Path):
    return invoke("publish", "--results", str(folder), "--docs", str(tmp_path / "docs"), "--readme", str(readme),
                  "--db", str(tmp_path / "r.sqlite"))


def test_a_runner_named_after_a_marker_leaves_the_readme_section_alone(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for index, data in enumerate(hostile_records(with_line_break=False)):
        (folder / f"{index}.json").write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{README_START}\nold\n{README_END}\nafter\n")
    first = _publish(tmp_path, folder, readme)
    assert first.returncode == 0, first.stdout + first.stderr
    published = readme.read_text()
    assert published.count(README_START) == 1 and published.count(README_END) == 1
    assert published.endswith(f"{README_END}\nafter\n")
    assert _publish(tmp_path, folder, readme).returncode == 0
    assert readme.read_text() == published  # nothing appended, run after run


@pytest.mark.parametrize("section", [
    f"{README_START}\na\n{README_END}\n{README_START}\nb\n{README_END}\n",
    f"{README_START}\na\n{README_END}\nb\n{README_END}\n",
    f"{README_START}\n{README_START}\na\n{README_END}\n",
    f"{README_END}\na\n{README_START}\n",
    f"{README_START}\na\n",
])
def test_the_readme_section_is_replaced_only_between_one_pair_of_markers(tmp_path, section):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(both_checks()[0]))
    readme = tmp_path / "README.md"
    readme.write_text(original := f"# x\n\n{section}after\n")
    result = _publish(tmp_path, folder, readme)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(f"error: --readme {readme}: ")
    assert readme.read_text() == original
    assert not (tmp_path / "docs").exists() and not (tmp_path / "r.sqlite").exists()
    # The library call alone refuses too, before it writes any output.
    with pytest.raises(InputError, match="--readme"):
        write_outputs(table_mod.build_table(load_matrix(), []), tmp_path / "docs", readme)
    assert readme.read_text() == original and not (tmp_path / "docs").exists()
