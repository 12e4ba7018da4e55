"""The HTML compatibility page in a real browser (Debian's headless Chromium, driven by Playwright)."""

from __future__ import annotations

import json
import shutil

import pytest

from builder import table as table_mod
from builder.matrix import load_matrix
from builder.table_formats import to_html, to_json
from tests import infra, matrix_facts
from tests.cli import ROOT
from tests.test_table import both_checks, record

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        message = "chromium not found: install Debian's chromium (scripts/install-test-deps does)"
        if infra.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api") if not infra.in_ci() else __import__(
        "playwright.sync_api", fromlist=["sync_playwright"])
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _visible_cells(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "td.cell", "cells => cells.filter(c => c.offsetParent !== null)"
                   ".map(c => [c.dataset.image, c.dataset.host])")


def test_the_page_matches_the_json_and_filters(browser, tmp_path):
    matrix = load_matrix()
    records = both_checks() + both_checks(target="v4.1.2-windows-ltsc2022", host="10.0.26100.2894",
                                          runner="windows-2025")
    records.append(record(target="v4.0.10-windows-1809", check="hello-windows", status="fail"))
    model = table_mod.build_table(matrix, records)
    page_file = tmp_path / "index.html"
    page_file.write_text(to_html(model), encoding="utf-8")
    data = json.loads(to_json(model))

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_file.as_uri())
    shown = page.eval_on_selector_all(
        "td.cell span.iso", "spans => spans.map(s => [s.closest('td').dataset.image, s.closest('td').dataset.host, "
                            "s.dataset.isolation, s.dataset.state, s.textContent])")
    expected = [[image["id"], host["name"], iso, image["cells"][host["name"]][iso]["state"]]
                for image in data["images"] for host in data["hosts"] for iso in ("process", "hyperv")]
    assert [s[:4] for s in shown] == expected
    # Compact: a letter and a symbol per isolation on screen; the word for screen readers and in the hover title.
    words = {"verified-pass": ("✔", "pass"), "verified-fail": ("✘", "fail"), "predicted": ("○", "predicted"),
             "cannot-run": ("–", "no")}
    letters = {"process": "P", "hyperv": "H"}
    assert all(text.startswith(f"{letters[iso]} {words[state][0]}") and f": {words[state][1]}" in text
               for _, _, iso, state, text in shown)
    seen = page.eval_on_selector_all("td.cell", "cells => cells.map(c => c.innerText.trim())")
    assert all(len(text.split("\n")[0]) <= 8 for text in seen), seen[:5]  # "P ○ H –": no words on screen
    titles = page.eval_on_selector_all("td.cell span.iso", "spans => spans.map(s => s.title)")
    assert all(t.startswith(("process isolation: ", "Hyper-V isolation: ")) and "; rule: " in t for t in titles)
    evidence = page.inner_text('td.cell[data-image="v4.1.2-windows-ltsc2022"][data-host="2025"] details')
    assert "process evidence" in evidence

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compatibility.png"), full_page=True)

    page.select_option("#host-filter", "2025")
    visible = _visible_cells(page)
    assert visible and {host for _, host in visible} == {"2025"}
    assert len(visible) == len(data["images"])
    page.select_option("#argo-filter", "v4.1.2")
    visible = _visible_cells(page)
    assert {image.split("-")[0] for image, _ in visible} == {"v4.1.2"}
    assert sorted(image for image, _ in visible) == sorted(matrix_facts.target_id(b, "v4.1.2")
                                                           for b in matrix_facts.RELEASE_NAMES)
    assert page.evaluate("location.hash") == "#argo=v4.1.2&host=2025"
    page.screenshot(path=str(ARTIFACTS / "compatibility-filtered.png"), full_page=True)

    # The filters also come from the address, so a filtered view can be linked.
    page.goto(page_file.as_uri() + "#host=1809")
    assert {host for _, host in _visible_cells(page)} == {"1809"}
    page.locator('td.cell[data-image="v4.1.2-windows-1809"][data-host="1809"] summary').first.click()
    assert "runner: ws2019" in page.inner_text('td.cell[data-image="v4.1.2-windows-1809"][data-host="1809"]')
    assert errors == []
    page.close()


# -- hostile records ------------------------------------------------------------------------------

# What the browser finds of an injection: elements records must never make, any on* attribute, a
# javascript: address, every heading, and whether a payload ran.
_INJECTED = """() => ({
  scripts: Array.from(document.scripts).map(s => s.textContent),
  elements: Array.from(document.querySelectorAll('img, svg, iframe, object, embed, style, a, form, meta, base'))
    .filter(e => !(e.tagName === 'STYLE' && e.parentElement === document.head)
                 && !(e.tagName === 'META' && e.parentElement === document.head))
    .map(e => e.outerHTML),
  handlers: Array.from(document.querySelectorAll('*')).flatMap(e => e.getAttributeNames()
    .filter(n => n.toLowerCase().startsWith('on')).map(n => e.tagName + ' ' + n)),
  javascript: Array.from(document.querySelectorAll('[href], [src], [action], [formaction]')).filter(e =>
    ['href', 'src', 'action', 'formaction'].some(n => /^\\s*javascript:/i.test(e.getAttribute(n) || ''))).length,
  headings: Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6')).map(h => h.textContent.trim()),
  pwned: typeof window.__pwned,
  text: document.body.textContent,
})"""


def test_hostile_records_inject_nothing_into_the_published_pages(browser, tmp_path):
    from markdown_it import MarkdownIt

    from builder.table_formats import README_END, README_START
    from builder.table_formats.html import static
    from tests.cli import invoke
    from tests.test_hostile_records import HEADING_ON_ITS_OWN_LINE, PAYLOADS, hostile_records

    folder = tmp_path / "records"
    folder.mkdir()
    for index, data in enumerate(hostile_records()):
        (folder / f"{index:02d}.json").write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\nbefore\n\n{README_START}\nold\n{README_END}\n\n## after\n")
    args = ("publish", "--results", str(folder), "--docs", str(tmp_path / "docs"), "--readme", str(readme),
            "--db", str(tmp_path / "r.sqlite"))
    result = invoke(*args)
    # The records whose runner holds a line break are skipped; every other payload is published.
    assert result.returncode == 1, result.stderr
    assert result.stdout.count("holds a line break or control character") == 2
    assert f"imported {2 * len(PAYLOADS)} records (0 already known, 2 skipped)" in result.stdout
    published = readme.read_text()
    assert published.count(README_START) == 1 and published.count(README_END) == 1
    assert invoke(*args).returncode == 1 and readme.read_text() == published

    argo_headings = [f"argoexec {argo}" for argo in matrix_facts.ARGO_TAGS]
    render = MarkdownIt("commonmark", {"html": True}).render
    pages = {
        "compatibility.md": (render((tmp_path / "docs" / "compatibility.md").read_text()),
                             ["argoexec for Windows: compatibility", *argo_headings]),
        # The README's section is a summary (symbols per node, no record field): it links the full table.
        "README.md": (render(published), ["project", "after"]),
    }
    for name, (body, _) in pages.items():
        (tmp_path / f"{name}.html").write_text(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
                                               f"<body>{body}</body></html>", encoding="utf-8")
    page_files = {name: tmp_path / f"{name}.html" for name in pages}
    page_files["index.html"] = tmp_path / "docs" / "index.html"
    html_headings = ["argoexec images for Windows nodes", *argo_headings]
    for name, path in page_files.items():
        page = browser.new_page()
        errors, dialogs = [], []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.on("dialog", lambda dialog, dialogs=dialogs: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(path.as_uri())
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        page.wait_for_timeout(200)  # an injected onerror or onload would have run by now
        found = page.evaluate(_INJECTED)
        page.close()
        assert found["pwned"] == "undefined", name
        assert found["scripts"] == ([static("page.js")] if name == "index.html" else []), name
        # The README's summary links the full table and the page (its own two links; no record makes one).
        ours = (['<a href="docs/compatibility.md">docs/compatibility.md</a>', '<a href="docs/index.html">'
                 'docs/index.html</a>'] if name == "README.md" else [])
        assert found["elements"] == ours and found["handlers"] == [] and found["javascript"] == 0, (name, found)
        assert found["headings"] == (html_headings if name == "index.html" else pages[name][1]), name
        for payload in PAYLOADS if name != "README.md" else ():  # each is on the page, as text
            assert payload in found["text"], (name, payload)
        assert HEADING_ON_ITS_OWN_LINE not in found["text"] and "injected heading" not in found["text"]
        assert errors == [] and dialogs == [], name


# -- every column reachable, the address's host spellings, the "my node" box ----------------------------------

# Whether an element is really seen: inside the viewport, inside its scrolling table, and not covered (the sticky
# header row and first column stay on top of what scrolls under them).
_SEEN = """el => {
  const r = el.getBoundingClientRect(), box = el.closest('.scroll').getBoundingClientRect();
  const x = Math.min(r.left + r.width / 2, r.right - 2), y = Math.min(r.top + r.height / 2, r.bottom - 2);
  const top = document.elementFromPoint(x, y);
  return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth + 1 && r.top >= 0
    && r.bottom <= window.innerHeight + 1 && r.left >= box.left - 1 && r.right <= box.right + 1
    && top !== null && el.contains(top);
}"""


def _page(browser, tmp_path, viewport):
    matrix = load_matrix()
    records = both_checks(target="v4.1.2-windows-ltsc2022", host="10.0.26100.2894", runner="windows-2025")
    model = table_mod.build_table(matrix, records, table_mod.Publication(matrix.registries.publish))
    page_file = tmp_path / "index.html"
    page_file.write_text(to_html(model), encoding="utf-8")
    page = browser.new_page(viewport=viewport)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, page_file, errors


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_every_column_is_reachable(browser, tmp_path, width, height):
    page, page_file, errors = _page(browser, tmp_path, {"width": width, "height": height})
    page.goto(page_file.as_uri())
    last_host = matrix_facts.HOST_NAMES[-1]
    last_image = matrix_facts.target_id(matrix_facts.RELEASE_NAMES[-1])
    for host in (last_host, matrix_facts.HOST_NAMES[0], "2025"):
        cell = page.locator(f'td.cell[data-image="{last_image}"][data-host="{host}"]').first
        cell.scroll_into_view_if_needed()
        assert cell.is_visible() and cell.evaluate(_SEEN), (width, host)
    # The resolution table's last column too, and its first column stays where it was (sticky).
    which = page.locator("section[data-argo] table.which").first
    last_row = which.locator("tbody tr").last
    preferred = last_row.locator("td").last
    preferred.scroll_into_view_if_needed()
    assert preferred.evaluate(_SEEN), width
    assert last_row.locator("th").evaluate(_SEEN), width  # the node's name is still in view beside it
    # The page itself never scrolls sideways: the tables do.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"compatibility-{width}x{height}-last-column.png"))
    assert errors == []
    page.close()


@pytest.mark.parametrize("spelling", ["2019", "ltsc2019", "10.0.17763", "10.0.17763.6893", "1809"])
def test_every_host_spelling_in_the_address_selects_its_column(browser, tmp_path, spelling):
    page, page_file, errors = _page(browser, tmp_path, {"width": 1400, "height": 900})
    page.goto(page_file.as_uri() + f"#host={spelling}")
    assert page.input_value("#host-filter") == "1809"
    assert {host for _, host in _visible_cells(page)} == {"1809"}
    assert page.locator("#host-notice").is_hidden()
    if spelling == "2019":
        page.screenshot(path=str(ARTIFACTS / "compatibility-host-2019.png"))
    assert errors == []
    page.close()


def test_an_unknown_host_or_an_empty_filter_says_so(browser, tmp_path):
    page, page_file, errors = _page(browser, tmp_path, {"width": 1400, "height": 900})
    page.goto(page_file.as_uri() + "#host=2030")
    notice = page.locator("#host-notice")
    assert notice.is_visible() and 'host "2030" is unknown' in notice.inner_text()
    assert page.input_value("#host-filter") == "all" and len(_visible_cells(page)) > 0  # never a blank selector
    page.goto(page_file.as_uri() + "#host=10.0.20349")
    assert "has no column" in notice.inner_text() and "the nearest column is 2022" in notice.inner_text()
    page.goto(page_file.as_uri() + "#argo=v0.0.1")
    assert "not in this table" in notice.inner_text()
    # A filter that matches nothing: the section of one Argo version is shown only for it; hide every cell.
    page.goto(page_file.as_uri())
    page.evaluate("""() => { const s = document.getElementById('argo-filter');
                            const o = document.createElement('option'); o.value = o.textContent = 'v0';
                            s.appendChild(o); s.value = 'v0'; s.dispatchEvent(new Event('change')); }""")
    empty = page.locator("#empty-notice")
    assert empty.is_visible() and "No image matches" in empty.inner_text()
    assert errors == []
    page.close()


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_the_my_node_box_answers_as_which_does(browser, tmp_path, width, height):
    page, page_file, errors = _page(browser, tmp_path, {"width": width, "height": height})
    page.goto(page_file.as_uri())
    repo = matrix_facts.MATRIX.registries.publish
    expected = {
        "10.0.17763": ["Windows Server 2019 (1809), build 10.0.17763:",
                       "Docker Engine and containerd take its 1809 entry"],
        "node.kubernetes.io/windows-build=10.0.26100": [
            "Windows Server 2025, build 10.0.26100:",
            f"{matrix_facts.NEWEST_ARGO}: pull {repo}:{matrix_facts.NEWEST_ARGO}-windows-ltsc2022",
            "how sure: verified 2026-11-20 on runner windows-2025", "take its ltsc2025 entry"],
        "10.0.22631": ["Windows 11 23H2, build 10.0.22631:", "take its ltsc2022 entry"],
        "10.0.20349": ["10.0.20349 is no column of this table", "the nearest column is 2022",
                       "Windows Server 2022, build 10.0.20348:"],
        "2016": ["Windows Server 2016 (10.0.14393): not supported"],
        "2030": ['"2030" is not a Windows node'],
    }
    for value, parts in expected.items():
        page.fill("#node-input", value)
        page.click("#node-go")
        answer = page.inner_text("#node-answer")
        for part in parts:
            assert part in answer, (value, part, answer[:300])
    page.fill("#node-input", "10.0.26100")
    page.press("#node-input", "Enter")
    assert page.inner_text("#node-answer").startswith("Windows Server 2025, build 10.0.26100:")
    page.screenshot(path=str(ARTIFACTS / f"compatibility-{width}x{height}-my-node.png"))
    assert errors == []
    page.close()



# -- the answer on the first screen, the banner, the legend, references on a phone ---------------------------

# The lines an element's text is laid out in: for each text character its line's top, to find where lines break.
_LINE_BREAKS = """el => {
  const breaks = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let previous = null, top = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange(); range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) { continue; }
      if (top !== null && rect.top > top + 2) { breaks.push(previous); }
      top = rect.top; previous = node.data[i];
    }
  }
  return breaks;
}"""


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_the_address_host_fills_the_box_and_the_answer_is_on_the_first_screen(browser, tmp_path, width, height):
    page, page_file, errors = _page(browser, tmp_path, {"width": width, "height": height})
    page.goto(page_file.as_uri() + "#host=2019")
    assert page.input_value("#node-input") == "2019"
    answer = page.locator("#node-answer")
    assert answer.is_visible()
    lines = answer.inner_text().splitlines()
    repo = matrix_facts.MATRIX.registries.publish
    assert lines[0] == "Windows Server 2019 (1809), build 10.0.17763:"
    assert lines[1] == f"{matrix_facts.NEWEST_ARGO}: pull {repo}:{matrix_facts.NEWEST_ARGO}-windows-1809 " \
        "(not published yet)"
    assert lines[2] == "  isolation: process"
    # The box leads with the answer, and the answer's first lines (node, reference, isolation, how sure) are on the
    # first screen, without scrolling.
    assert page.evaluate("window.scrollY") == 0
    first_lines_bottom = page.evaluate("""() => { const pre = document.getElementById('node-answer');
        const r = pre.getBoundingClientRect(), line = parseFloat(getComputedStyle(pre).lineHeight) || 16;
        const range = document.createRange(); range.selectNodeContents(pre);
        const rects = Array.from(range.getClientRects()).map(x => x.bottom).sort((a, b) => a - b);
        return {top: r.top, rects: rects}; }""")
    text_rows = sorted(set(round(b) for b in first_lines_bottom["rects"]))
    assert len(text_rows) >= 4 and text_rows[3] <= height, (first_lines_bottom["top"], text_rows[:6])
    box = page.locator(".my-node").bounding_box()
    assert answer.bounding_box()["y"] - box["y"] < 20  # the answer first in its box, before the input
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"compatibility-{width}x{height}-host-2019.png"))
    assert errors == []
    page.close()


def test_windows_server_2016_in_the_address_is_not_supported(browser, tmp_path):
    page, page_file, errors = _page(browser, tmp_path, {"width": 1400, "height": 900})
    page.goto(page_file.as_uri() + "#host=2016")
    assert "Windows Server 2016 (10.0.14393): not supported" in page.inner_text("#node-answer")
    assert "not supported" in page.inner_text("#host-notice")
    assert errors == []
    page.close()


def test_placeholder_banner_and_plain_legend(browser, tmp_path):
    page, page_file, errors = _page(browser, tmp_path, {"width": 1400, "height": 900})
    page.goto(page_file.as_uri())
    banner = page.locator("#placeholder-banner")
    assert banner.is_visible() and banner.bounding_box()["y"] < 150  # at the top
    text = banner.inner_text()
    assert matrix_facts.MATRIX.registries.publish in text and "registries.publish" in text
    assert "`" not in page.inner_text("ul.legend")
    page.close()
    # Once the repository has the images (an index digest known), the banner is gone.
    matrix = load_matrix()
    publication = table_mod.Publication(matrix.registries.publish)
    publication.indexes[matrix_facts.NEWEST_ARGO] = "sha256:" + "a" * 64
    published = tmp_path / "published.html"
    published.write_text(to_html(table_mod.build_table(matrix, [], publication)), encoding="utf-8")
    page = browser.new_page()
    page.goto(published.as_uri())
    assert page.locator("#placeholder-banner").count() == 0
    assert errors == []
    page.close()


def test_references_break_only_after_slash_colon_or_at_on_a_phone(browser, tmp_path):
    page, page_file, errors = _page(browser, tmp_path, {"width": 390, "height": 844})
    page.goto(page_file.as_uri())
    refs = page.locator("code.pull")
    assert refs.count() > 0
    broken = 0
    for index in range(refs.count()):
        ref = refs.nth(index)
        ref.scroll_into_view_if_needed()
        breaks = ref.evaluate(_LINE_BREAKS)
        assert all(c in "/:@" for c in breaks), (ref.inner_text(), breaks)
        broken += bool(breaks)
    assert broken > 0  # the phone's narrow first column does break them
    assert errors == []
    page.close()


# -- the Markdown table at GitHub's width ----------------------------------------------------------------------

# GitHub's Markdown styles, as github-markdown-css (sindresorhus/github-markdown-css, github-markdown-light.css) has
# them for a README: the article is 1012 px wide on a desktop; a table is a block as wide as its content, at most the
# article's width (wider, it scrolls, and its cells wrap first); cells have 6px 13px padding; code is 85 %.
GITHUB_CSS = """
.markdown-body{box-sizing:border-box;width:1012px;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",
Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;word-wrap:break-word}
.markdown-body table{border-spacing:0;border-collapse:collapse;display:block;width:max-content;max-width:100%;
overflow:auto}
.markdown-body td,.markdown-body th{padding:6px 13px;border:1px solid #d0d7de}
.markdown-body th{font-weight:600}
.markdown-body code{padding:.2em .4em;margin:0;font-size:85%;white-space:break-spaces}
"""

# Whether a cell's text runs over more than one line, apart from the line breaks the Markdown asks for (<br>).
_CELL_WRAPS = """cell => {
  const lines = new Set();
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange(); range.selectNodeContents(node);
    const tops = Array.from(range.getClientRects()).map(r => Math.round(r.top));
    if (new Set(tops).size > 1) { return true; }  // one text node over two lines: it wrapped
    tops.forEach(t => lines.add(t));
  }
  return lines.size > cell.querySelectorAll('br').length + 1;
}"""


def test_the_markdown_table_fits_githubs_width_without_wrapping(browser, tmp_path):
    from markdown_it import MarkdownIt

    matrix = load_matrix()
    # Verified cells, a failed one and one that contradicts the rules: the widest cells the table has.
    records = (both_checks() + both_checks(target="v4.1.2-windows-ltsc2022", host="10.0.26100.2894",
                                           runner="windows-2025")
               + both_checks(target="v4.1.2-windows-ltsc2025", host="10.0.20348.2700", runner="windows-2022"))
    records.append(record(target="v4.0.10-windows-1809", check="hello-windows", status="fail"))
    model = table_mod.build_table(matrix, records, table_mod.Publication(matrix.registries.publish))
    from builder.table_formats import to_markdown

    markdown = to_markdown(model)
    assert "⚠" in markdown and "✔" in markdown and "✘" in markdown
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    page_file = tmp_path / "compatibility.html"
    page_file.write_text(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>{GITHUB_CSS}</style></head>"
                         f"<body><article class=\"markdown-body\">{body}</article></body></html>", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_file.as_uri())
    tables = page.locator("article table")
    assert tables.count() == len(matrix_facts.ARGO_TAGS)  # one table per Argo version
    heads = page.eval_on_selector_all("article table thead th", "ths => ths.map(th => th.innerText)")
    for host in matrix_facts.HOSTS:
        release = next((n for n in host.names if n.isdigit() and n.startswith("20")), host.name)
        assert f"{release}\n{host.build.build}" in heads  # the release, its build under it
    assert "2019\n17763" in heads and "2022\n20348" in heads and "2025\n26100" in heads
    for index in range(tables.count()):
        table = tables.nth(index)
        width = table.evaluate("t => t.scrollWidth")
        natural = table.evaluate("t => { t.style.maxWidth = 'none'; const w = t.scrollWidth; "
                                 "t.style.maxWidth = ''; return w; }")
        assert width <= 1012 and natural <= 1012, (width, natural)  # its content fits: nothing wraps or scrolls
        wrapped = table.locator("th, td").evaluate_all(f"cells => cells.filter({_CELL_WRAPS}).map(c => c.innerText)")
        assert wrapped == [], wrapped
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compatibility-markdown-1012.png"), full_page=True)
    page.close()
