"""The annotation server under hostile or heavy use: DNS rebinding (Host / Origin), the Content
Security Policy, 100 concurrent answers, deep JSON, an unreadable image, and a seeded fuzz loop
over request paths and bodies."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferbias.annotate import ReviewStore, make_server
from ferbias.gender import labels
from synthetic import synthetic_face

N_FILES = 100


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """100 synthetic faces and one unreadable file: the items of a review store."""
    folder = tmp_path_factory.mktemp("faces")
    files = [f"f{i:03d}.png" for i in range(N_FILES)]
    for i, file in enumerate(files):
        Image.fromarray(synthetic_face(seed=i)).save(folder / file)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    files.append("broken.png")
    return folder, pd.DataFrame(
        {
            "file": files,
            "sample_id": [f"toy:{f}" for f in files],
            "path": [str(folder / f) for f in files],
        }
    )


@pytest.fixture
def served(tmp_path, faces):
    """A running review server whose labels file is the only file in ``tmp_path``."""
    labels_path = tmp_path / "labels.csv"
    server = make_server(ReviewStore(faces[1], labels_path, annotator="tester"))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1], labels_path, tmp_path
    server.shutdown()
    server.server_close()


def request(port, method, path, body=None, headers=None, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    payload = json.dumps(body).encode() if isinstance(body, dict | list) else body
    sent = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=payload, headers={**sent, **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), data


def label_body(file: str, gender: str = "male") -> dict:
    return {"id": file, "gender": gender}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Host": "localhost:{port}"}, 200),
        ({"Host": "evil.example:{port}"}, 403),
        ({"Host": "127.0.0.1:1"}, 403),
        ({"Host": "127.0.0.1"}, 403),
        ({"Origin": "http://127.0.0.1:{port}"}, 200),
        ({"Origin": "http://localhost:{port}"}, 200),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://127.0.0.1:{port}.evil.example"}, 403),
    ],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/api/items"), ("POST", "/api/label")])
def test_host_and_origin_checked(served, headers, status, method, path):
    port, labels_path, _ = served
    headers = {k: v.format(port=port) for k, v in headers.items()}
    body = label_body("f001.png") if method == "POST" else None
    got, _, data = request(port, method, path, body, headers=headers)
    assert got == status, data
    if status == 403:
        assert "error" in json.loads(data)
        assert not labels_path.exists()


def test_content_security_policy_and_no_inline_script(served):
    port, _, _ = served
    status, headers, page = request(port, "GET", "/")
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy
    text = page.decode()
    scripts = re.findall(r"<script\b[^>]*>", text)
    assert scripts and all("src=" in tag for tag in scripts)
    assert not re.search(r"<script\b[^>]*>(?!</script>)", text)  # no inline code
    assert not re.search(r"\son[a-z]+\s*=", text)  # no inline event handlers
    for name in re.findall(r'src="(/static/[^"]+)"', text):
        status, headers, _ = request(port, "GET", name)
        assert status == 200 and "Content-Security-Policy" in headers


def test_hundred_concurrent_answers_all_kept(served):
    port, labels_path, _ = served
    files = [f"f{i:03d}.png" for i in range(N_FILES)]
    start = threading.Barrier(len(files))
    statuses = {}

    def post(file):
        start.wait()
        try:
            statuses[file] = request(port, "POST", "/api/label", label_body(file), timeout=60)[0]
        except OSError as error:  # a reset connection is a lost answer
            statuses[file] = repr(error)

    threads = [threading.Thread(target=post, args=(f,)) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == dict.fromkeys(files, 200)
    saved = labels.resolve_labels(labels.read_labels(labels_path))
    assert sorted(saved["file"]) == files and set(saved["gender"]) == {"male"}


def test_deep_json_gets_400(served):
    port, labels_path, _ = served
    for body in (b"[" * 2000 + b"]" * 2000, b'{"a":' * 600 + b"1" + b"}" * 600):
        status, _, data = request(port, "POST", "/api/label", body)
        assert status == 400 and "error" in json.loads(data)
    assert not labels_path.exists()


def test_unreadable_image_gets_a_4xx_naming_it(served):
    port, _, _ = served
    status, _, data = request(port, "GET", "/api/image?id=broken.png")
    assert status == 422
    assert "broken.png" in json.loads(data)["error"]


def _snapshot(root) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _random_body(rng: np.random.Generator) -> bytes | dict | None:
    kind = rng.integers(7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.bytes(int(rng.integers(0, 300)))
    if kind == 2:
        depth = int(rng.integers(1, 3000))
        return (b"[" * depth + b"]" * depth)[:4096]
    ids = ["f001.png", "broken.png", "../labels.csv", "/etc/passwd", "", "nope", 7, None, ["x"]]
    genders = ["female", "male", "unknown", "woman", "", None, 1, {"x": 1}]
    body = {"id": ids[rng.integers(len(ids))], "gender": genders[rng.integers(len(genders))]}
    if kind == 3:
        body["id"] = "".join(chr(int(c)) for c in rng.integers(1, 0x2FFF, 12))
    return body


def _random_path(rng: np.random.Generator) -> str:
    routes = ["/", "/api/items", "/api/image", "/api/label", "/api/undo", "/static/annotate.js",
              "/static/../server.py", "/static/", "/%2e%2e/etc/passwd", "//", "/api"]  # fmt: skip
    path = routes[rng.integers(len(routes))]
    if rng.integers(3) == 0:
        path += "?id=" + "".join(f"%{b:02x}" for b in rng.bytes(int(rng.integers(0, 20))))
    elif rng.integers(2) == 0:
        path += (
            "?id=" + ["f002.png", "../labels.csv", "broken.png", "%00", "a&id=b"][rng.integers(5)]
        )
    return path


def test_fuzz_requests_never_crash_or_touch_other_files(served, faces):
    port, labels_path, root = served
    before = {p: b for p, b in (_snapshot(root) | _snapshot(faces[0])).items() if p != labels_path}
    rng = np.random.default_rng(20261203)
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    for _ in range(400):
        method = methods[rng.integers(len(methods))]
        path, body = _random_path(rng), _random_body(rng)
        headers = {}
        if rng.integers(4) == 0:
            headers["Content-Type"] = ["text/plain", "application/json; charset=utf-8", ""][
                rng.integers(3)
            ]
        status, _, _ = request(port, method, path, body, headers=headers)
        assert 200 <= status < 300 or 400 <= status < 500, (method, path, body, status)
    for raw in (
        b"GARBAGE\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"\x00\xff\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            reply = sock.recv(64)
        assert reply.startswith(b"HTTP/1.") and reply[9:10] == b"4", reply
    after = {p: b for p, b in (_snapshot(root) | _snapshot(faces[0])).items() if p != labels_path}
    assert after == before
    assert request(port, "GET", "/api/items")[0] == 200
