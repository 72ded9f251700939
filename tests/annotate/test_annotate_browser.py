"""End to end in Debian's headless chromium (Playwright, no browser download): label faces with
the keyboard, reload, the labels persist; hostile file and annotator names never run script;
the blind page shows no file name or score."""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager

import pandas as pd
import pytest
from PIL import Image

from ferbias.annotate import BlindStore, ReviewStore, make_server
from ferbias.gender import labels, passes
from ferbias.gender.sheets import pass_order
from synthetic import synthetic_face

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
COUNT_HAND_LABELS = (
    "n => [...document.querySelectorAll('.tile')].filter(t => t.dataset.gender).length == n"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not IN_CI, reason="chromium not installed (make browser installs it)"
)


HOSTILE_FILES = [
    '"><img src=x onerror=alert(2)>.png',
    'a" onload="alert(3)" x=".png',
    "<svg onload=alert(4)>.png",
]
HOSTILE_ANNOTATOR = "<img src=x onerror=alert(1)>"


def _items(folder, files) -> pd.DataFrame:
    for i, file in enumerate(files):
        Image.fromarray(synthetic_face(seed=i)).save(folder / file)
    return pd.DataFrame(
        {
            "file": files,
            "sample_id": [f"toy:{f}" for f in files],
            "path": [str(folder / f) for f in files],
        }
    )


@contextmanager
def _served(store):
    server = make_server(store)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM is not None, "chromium is required in CI (make browser)"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture
def page_url(tmp_path):
    items = _items(tmp_path, [f"f{i}.png" for i in range(5)])
    labels_path = tmp_path / "labels.csv"
    with _served(ReviewStore(items, labels_path, annotator="browser")) as url:
        yield url, labels_path


def _hand_genders(page) -> list[str]:
    return page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.gender)")


def test_keyboard_labels_persist_after_reload(page_url):
    url, labels_path = page_url
    with _browser_page() as page:
        page.goto(url)
        page.wait_for_selector("body[data-ready=true] .tile.current")
        for key, n in (("f", 1), ("m", 2), ("ArrowRight", 2), ("u", 3), ("z", 2), ("u", 3)):
            page.keyboard.press(key)
            page.wait_for_function(COUNT_HAND_LABELS, arg=n)
        page.reload()
        page.wait_for_selector("body[data-ready=true] .tile.current")
        after = _hand_genders(page)
        resumed_at = page.eval_on_selector(".tile.current", "t => t.dataset.id")
    assert after == ["female", "male", "", "unknown", ""]
    assert resumed_at == "f2.png"
    saved = labels.resolve_labels(labels.read_labels(labels_path)).set_index("file")
    assert saved["gender"].to_dict() == {"f0.png": "female", "f1.png": "male", "f3.png": "unknown"}
    assert set(saved["annotator"]) == {"browser"}


def test_hostile_file_and_annotator_names_never_run_script(tmp_path):
    items = _items(tmp_path, ["plain.png", *HOSTILE_FILES])
    labels_path = tmp_path / "labels.csv"
    shared = labels.add_hand_label(
        labels.make_labels([]), file="plain.png", sample_id="toy:plain.png", gender="male",
        annotator=HOSTILE_ANNOTATOR,
    )  # fmt: skip
    labels.write_labels(labels_path, shared)
    dialogs = []
    store = ReviewStore(items, labels_path, annotator=HOSTILE_ANNOTATOR)
    with _served(store) as url, _browser_page() as page:
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true] .tile.current")
        page.keyboard.press("f")
        page.wait_for_function(COUNT_HAND_LABELS, arg=2)
        page.wait_for_timeout(300)
        alts = page.eval_on_selector_all(".tile img", "images => images.map(i => i.alt)")
        captions = page.eval_on_selector_all(".caption", "cs => cs.map(c => c.textContent)")
        injected = page.eval_on_selector_all("img[src=x], svg, script:not([src])", "e => e.length")
    assert dialogs == []
    assert injected == 0
    assert sorted(alts) == sorted(["plain.png", *HOSTILE_FILES])
    assert sum(HOSTILE_ANNOTATOR in c for c in captions) == 2


def test_blind_page_shows_no_file_name_or_score(tmp_path):
    files = [f"train/sad/Training_{i}.png" for i in range(4)]
    (tmp_path / "train" / "sad").mkdir(parents=True)
    items = _items(tmp_path, files)
    auto = labels.automatic_labels(
        files, files, ["female"] * 4, [0.8765] * 4, labeller="ensemble", version="t"
    )
    labels.write_labels(tmp_path / "labels.csv", auto)
    answers = tmp_path / "A.csv"
    store = BlindStore(items, files, answers, pass_id="A", annotator="browser")
    with _served(store) as url, _browser_page() as page:
        page.goto(url)
        page.wait_for_selector("body[data-ready=true] .tile.current")
        for key, n in (("f", 1), ("m", 2), ("u", 3)):
            page.keyboard.press(key)
            page.wait_for_function(COUNT_HAND_LABELS, arg=n)
        page.reload()
        page.wait_for_selector("body[data-ready=true] .tile.current")
        html = page.content()
        after = _hand_genders(page)
    assert after == ["female", "male", "unknown", ""]
    for leak in ("Training", "train/", "0.87", "p♀", "auto:"):
        assert leak not in html
    order = pass_order(files, pass_id="A", seed=0)
    saved = passes.read_pass(answers, pass_id="A").set_index("file")["answer"]
    assert saved.to_dict() == {order[0]: "F", order[1]: "M", order[2]: "U"}
