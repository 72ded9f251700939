"""The annotation server's HTTP API: listing, images, answers saved atomically, refusals."""

from __future__ import annotations

import http.client
import json
import threading

import pandas as pd
import pytest
from PIL import Image

from ferbias.annotate import ReviewStore, make_server
from ferbias.gender import labels
from synthetic import synthetic_face


@pytest.fixture
def served(tmp_path):
    """A running server over four synthetic faces, the middle ones with automatic labels."""
    files = [f"train/happy/{i}.png" for i in range(4)]
    for i, file in enumerate(files):
        (tmp_path / "src" / file).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_face(seed=i)).save(tmp_path / "src" / file)
    items = pd.DataFrame(
        {
            "file": files,
            "sample_id": [f"toy:{f}" for f in files],
            "path": [str(tmp_path / "src" / f) for f in files],
        }
    )
    auto = labels.automatic_labels(
        files[1:3],
        [f"toy:{f}" for f in files[1:3]],
        ["female", "unknown"],
        [0.9, 0.45],
        labeller="onnx-cc0",
        version="t",
    )
    labels_path = tmp_path / "labels.csv"
    labels.write_labels(labels_path, auto)
    server = make_server(ReviewStore(items, labels_path, annotator="tester"))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], labels_path
    server.shutdown()
    server.server_close()


def _request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    sent = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=payload, headers={**sent, **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_items_most_uncertain_first_and_page_served(served):
    port, _ = served
    status, data = _request(port, "GET", "/api/items")
    items = json.loads(data)["items"]
    assert status == 200
    assert [i["file"] for i in items][:2] == ["train/happy/2.png", "train/happy/1.png"]
    assert items[0]["p_female"] == 0.45 and items[2]["gender"] is None
    status, page = _request(port, "GET", "/")
    assert status == 200 and b"ferbias annotate" in page


def test_image_is_png_of_the_face(served):
    port, _ = served
    status, data = _request(port, "GET", "/api/image?id=train/happy/0.png")
    assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_answer_saved_with_annotator_and_undone(served):
    port, labels_path = served
    status, data = _request(
        port, "POST", "/api/label", {"id": "train/happy/1.png", "gender": "male"}
    )
    assert status == 200 and json.loads(data)["gender"] == "male"
    saved = labels.resolve_labels(labels.read_labels(labels_path)).set_index("file")
    assert saved.at["train/happy/1.png", "gender"] == "male"
    assert saved.at["train/happy/1.png", "annotator"] == "tester"
    assert saved.at["train/happy/1.png", "p_female"] == 0.9
    status, data = _request(port, "POST", "/api/undo", {"id": "train/happy/1.png"})
    assert status == 200 and json.loads(data)["gender"] == "female"
    assert not labels.is_hand(labels.read_labels(labels_path)).any()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/image?id=../../etc/passwd", None, 400),
        ("GET", "/api/image?id=/etc/passwd", None, 400),
        ("GET", "/api/image?id=train/happy/9.png", None, 404),
        ("GET", "/api/image", None, 400),
        ("GET", "/static/../server.py", None, 404),
        ("GET", "/nope", None, 404),
        ("POST", "/api/label", {"id": "train/happy/0.png", "gender": "woman"}, 400),
        ("POST", "/api/label", {"id": "nope.png", "gender": "male"}, 404),
        ("POST", "/api/label", {"gender": "male"}, 400),
        ("POST", "/api/label", b"{not json", 400),
        ("POST", "/api/label", b"[1, 2]", 400),
        ("POST", "/api/label", b"x" * 5000, 413),
        ("POST", "/api/undo", {"id": "../labels.csv"}, 400),
        ("DELETE", "/api/label", None, 405),
    ],
)
def test_refused_requests(served, method, path, body, status):
    port, labels_path = served
    before = labels_path.read_bytes()
    got, data = _request(port, method, path, body)
    assert got == status
    assert "error" in json.loads(data)
    assert labels_path.read_bytes() == before


def test_wrong_content_type_refused(served):
    port, _ = served
    body = json.dumps({"id": "train/happy/0.png", "gender": "male"})
    got, _ = _request(port, "POST", "/api/label", body, headers={"Content-Type": "text/plain"})
    assert got == 415


def test_binds_to_localhost_only(tmp_path):
    items = pd.DataFrame({"file": ["a.png"], "sample_id": ["t:a.png"], "path": ["/x"]})
    store = ReviewStore(items, tmp_path / "l.csv", annotator="a")
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        make_server(store, host="0.0.0.0")
