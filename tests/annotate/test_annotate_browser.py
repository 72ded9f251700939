"""End to end in Debian's headless chromium (Playwright, no browser download): label three faces
with the keyboard, reload, the labels persist."""

from __future__ import annotations

import os
import shutil
import threading

import pandas as pd
import pytest
from PIL import Image

from ferbias.annotate import AnnotationStore, make_server
from ferbias.gender import labels
from synthetic import synthetic_face

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
COUNT_HAND_LABELS = (
    "n => [...document.querySelectorAll('.tile')].filter(t => t.dataset.gender).length == n"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not IN_CI, reason="chromium not installed (make browser installs it)"
)


@pytest.fixture
def page_url(tmp_path):
    files = [f"f{i}.png" for i in range(5)]
    for i, file in enumerate(files):
        Image.fromarray(synthetic_face(seed=i)).save(tmp_path / file)
    items = pd.DataFrame(
        {
            "file": files,
            "sample_id": [f"toy:{f}" for f in files],
            "path": [str(tmp_path / f) for f in files],
        }
    )
    labels_path = tmp_path / "labels.csv"
    server = make_server(AnnotationStore(items, labels_path, annotator="browser"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", labels_path
    server.shutdown()
    server.server_close()


def _hand_genders(page) -> list[str]:
    return page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.gender)")


def test_keyboard_labels_persist_after_reload(page_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, labels_path = page_url
    assert CHROMIUM is not None, "chromium is required in CI (make browser)"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true] .tile.current")
        for key, n in (("f", 1), ("m", 2), ("ArrowRight", 2), ("u", 3), ("z", 2), ("u", 3)):
            page.keyboard.press(key)
            page.wait_for_function(COUNT_HAND_LABELS, arg=n)
        page.reload()
        page.wait_for_selector("body[data-ready=true] .tile.current")
        after = _hand_genders(page)
        resumed_at = page.eval_on_selector(".tile.current", "t => t.dataset.file")
        browser.close()
    assert after == ["female", "male", "", "unknown", ""]
    assert resumed_at == "f2.png"
    saved = labels.resolve_labels(labels.read_labels(labels_path)).set_index("file")
    assert saved["gender"].to_dict() == {"f0.png": "female", "f1.png": "male", "f3.png": "unknown"}
    assert set(saved["annotator"]) == {"browser"}
