"""The annotation server: stdlib ``ThreadingHTTPServer`` on 127.0.0.1, one static page, JSON API.

Routes: ``GET /`` (the page), ``GET /api/items`` (faces, most uncertain automatic label first),
``GET /api/image?file=F`` (PNG of the face), ``POST /api/label`` ``{"file", "gender"}`` and
``POST /api/undo`` ``{"file"}``. Every answer rewrites the labels file atomically. Only files
of the served set are known: anything else, traversal and malformed bodies get a 4xx.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
from PIL import Image

from ferbias.gender import labels as lab

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 4096
PAGE = "index.html"
NOT_LOCAL = "the annotation server binds to 127.0.0.1 only, not {host!r}"
NO_ITEMS = "nothing to annotate: the source gave no images"


def _default_loader(path: str) -> np.ndarray:
    from ferbias.data.images import load_gray

    return load_gray(path)


class AnnotationStore:
    """Faces being labelled and their labels file; thread-safe, each change saved atomically."""

    def __init__(
        self,
        items: pd.DataFrame,
        labels_path: str | os.PathLike,
        *,
        annotator: str,
        image_loader: Callable[[str], np.ndarray] = _default_loader,
    ) -> None:
        """``items``: columns file, sample_id, path (absolute image path or reference)."""
        if items.empty:
            raise ValueError(NO_ITEMS)
        self.labels_path = Path(labels_path)
        self.annotator = annotator
        self._load_image = image_loader
        self._lock = threading.Lock()
        self._items = items.drop_duplicates("file").set_index("file")
        exists = self.labels_path.exists()
        self._labels = lab.read_labels(self.labels_path) if exists else lab.make_labels([])
        self._order = self._uncertainty_order()

    def _uncertainty_order(self) -> list[str]:
        """Files by |p_female - 0.5| ascending (no automatic label last), then by name."""
        auto = lab.resolve_labels(self._labels).set_index("file")["p_female"]
        p = auto.reindex(self._items.index).astype(float)
        key = pd.DataFrame(
            {"u": (p - 0.5).abs().fillna(1.0).to_numpy(), "file": self._items.index.to_numpy()}
        )
        return key.sort_values(["u", "file"], kind="stable")["file"].tolist()

    def knows(self, file: str) -> bool:
        return file in self._items.index

    def items(self) -> list[dict]:
        """Every face in annotation order with its current (resolved) label."""
        with self._lock:
            resolved = lab.resolve_labels(self._labels).set_index("file")
        rows = []
        for file in self._order:
            row = resolved.loc[file] if file in resolved.index else None
            rows.append(_item_payload(file, row))
        return rows

    def png(self, file: str) -> bytes:
        image = self._load_image(str(self._items.at[file, "path"]))
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        return buffer.getvalue()

    def label(self, file: str, gender: str) -> dict:
        """Save a hand answer for ``file``; returns its new state."""
        with self._lock:
            self._labels = lab.add_hand_label(
                self._labels,
                file=file,
                sample_id=str(self._items.at[file, "sample_id"]),
                gender=gender,
                annotator=self.annotator,
            )
            lab.write_labels(self.labels_path, self._labels)
        return self._state(file)

    def undo(self, file: str) -> dict:
        """Drop the latest hand answer for ``file``; returns its new state."""
        with self._lock:
            self._labels = lab.remove_last_hand_label(self._labels, file)
            lab.write_labels(self.labels_path, self._labels)
        return self._state(file)

    def _state(self, file: str) -> dict:
        with self._lock:
            resolved = lab.resolve_labels(self._labels).set_index("file")
        return _item_payload(file, resolved.loc[file] if file in resolved.index else None)


def _item_payload(file: str, row: pd.Series | None) -> dict:
    if row is None:
        return {"file": file, "gender": None, "p_female": None, "annotator": None}
    p = row["p_female"]
    return {
        "file": file,
        "gender": str(row["gender"]),
        "p_female": None if pd.isna(p) else round(float(p), 4),
        "annotator": None if pd.isna(row["annotator"]) else str(row["annotator"]),
    }


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class AnnotationHandler(BaseHTTPRequestHandler):
    """Routes requests to the ``AnnotationStore`` on ``self.server.store``."""

    server_version = "ferbias-annotate"

    def do_GET(self) -> None:
        self._dispatch({"/": self._page, "/api/items": self._items, "/api/image": self._image})

    def do_POST(self) -> None:
        self._dispatch({"/api/label": self._label, "/api/undo": self._undo})

    def _refuse_method(self) -> None:
        self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method not allowed"})

    do_PUT = do_DELETE = do_PATCH = _refuse_method

    def _dispatch(self, routes: dict[str, Callable[[dict], None]]) -> None:
        parts = urlsplit(self.path)
        try:
            route = routes.get(parts.path)
            if route is None:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no such page {parts.path!r}")
            route(parse_qs(parts.query, keep_blank_values=True))
        except ApiError as error:
            self._send_json(error.status, {"error": str(error)})

    def _page(self, _query: dict) -> None:
        body = resources.files("ferbias.annotate").joinpath("static", PAGE).read_bytes()
        self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")

    def _items(self, _query: dict) -> None:
        store = self.server.store
        self._send_json(HTTPStatus.OK, {"annotator": store.annotator, "items": store.items()})

    def _image(self, query: dict) -> None:
        file = self._known_file(query.get("file", [None])[0])
        self._send(HTTPStatus.OK, self.server.store.png(file), "image/png")

    def _label(self, _query: dict) -> None:
        body = self._json_body()
        gender = body.get("gender")
        if gender not in lab.GENDERS:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"gender must be one of {list(lab.GENDERS)}")
        file = self._known_file(body.get("file"))
        self._send_json(HTTPStatus.OK, self.server.store.label(file, gender))

    def _undo(self, _query: dict) -> None:
        file = self._known_file(self._json_body().get("file"))
        self._send_json(HTTPStatus.OK, self.server.store.undo(file))

    def _known_file(self, file: object) -> str:
        if not isinstance(file, str) or not file:
            raise ApiError(HTTPStatus.BAD_REQUEST, "a 'file' string is required")
        if ".." in Path(file).parts or file.startswith("/"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "file names may not leave the source folder")
        if not self.server.store.knows(file):
            raise ApiError(HTTPStatus.NOT_FOUND, f"unknown file {file!r}")
        return file

    def _json_body(self) -> dict:
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length required") from None
        if not 0 < length <= MAX_BODY_BYTES:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body empty or too large")
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _send_json(self, status: HTTPStatus, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("annotate: " + format, *args)


class AnnotationServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: AnnotationStore, port: int) -> None:
        super().__init__((HOST, port), AnnotationHandler)
        self.store = store


def make_server(store: AnnotationStore, *, port: int = 0, host: str = HOST) -> AnnotationServer:
    """A server bound to 127.0.0.1 (port 0: any free port; see ``server.server_address``)."""
    if host != HOST:
        raise ValueError(NOT_LOCAL.format(host=host))
    return AnnotationServer(store, port)


def serve(store: AnnotationStore, *, port: int = 8765) -> None:
    """Serve until interrupted."""
    server = make_server(store, port=port)
    log.info("annotating at http://%s:%d/ (Ctrl-C to stop)", HOST, server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped; labels are in %s", store.labels_path)
    finally:
        server.server_close()
