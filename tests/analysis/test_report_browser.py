"""The report in Debian's headless chromium (Playwright, no browser download): every figure
loads, the page logs no errors, the verdict paragraph comes before the first table, and the
transfer heat map is shown at its natural size (its numbers readable at 100% zoom)."""

from __future__ import annotations

import os
import shutil

import pytest
from test_report import build_experiment

from ferbias.analysis import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() == "true"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not IN_CI, reason="chromium not installed (make browser installs it)"
)
FIGURES = "[...document.images].map(i => [i.alt, i.naturalWidth, i.clientWidth])"
VERDICT_BEFORE_TABLE = (
    "() => !!(document.getElementById('verdict').compareDocumentPosition("
    "document.querySelector('table')) & Node.DOCUMENT_POSITION_FOLLOWING)"
)


@pytest.fixture(scope="module")
def report_url(tmp_path_factory):
    folder = build_experiment(tmp_path_factory.mktemp("runs") / "browser", seeds=(0,))
    return report.write_report(folder, n_resamples=50).html.as_uri()


def test_report_opens_with_figures_no_errors_and_the_verdict_first(report_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM is not None, "chromium is required in CI (make browser)"
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report_url, wait_until="load")
        figures = page.evaluate(FIGURES)
        verdict_first = page.evaluate(VERDICT_BEFORE_TABLE)
        verdict = page.inner_text("#verdict")
        contents = page.eval_on_selector_all("nav a", "links => links.map(a => a.hash)")
        browser.close()
    assert errors == []
    assert len(figures) == 7
    assert all(natural > 0 for _, natural, _ in figures), figures
    assert verdict_first
    assert "emotion-standardised accuracy" in verdict
    assert contents[0] == "#answer" and "#transfer-tables" in contents
    heatmap = next(f for f in figures if f[0].startswith("Transfer matrix"))
    assert heatmap[2] == heatmap[1]  # not scaled down in a 1,280 px window
