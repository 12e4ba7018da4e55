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
    words = {"verified-pass": "✔ pass", "verified-fail": "✘ fail", "predicted": "○ predicted", "cannot-run": "– no"}
    assert all(words[state] in text for _, _, _, state, text in shown)  # symbols and words, not colour alone
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
