"""The annotation server: stdlib ``ThreadingHTTPServer`` on 127.0.0.1, static page, JSON API.

Routes: ``GET /`` (the page), ``GET /static/<name>`` (its script and style sheet),
``GET /api/items`` (the faces in the store's order), ``GET /api/image?id=I`` (PNG of a face),
``POST /api/label`` ``{"id", "gender"}`` and ``POST /api/undo`` ``{"id"}``. The store (review or
blind mode) saves every answer atomically under a lock.

Defences: the Host header must be ``127.0.0.1:<port>`` or ``localhost:<port>`` and an Origin, if
sent, the same (DNS rebinding); every response carries a Content-Security-Policy that allows
only the server's own script and style (the page builds its DOM from data with textContent,
never HTML strings); only the store's ids are known; bad bodies, deep JSON and unreadable images
get a 4xx with a JSON message; anything unexpected a 500 with a message, never a dropped
connection; the listen queue holds ``REQUEST_QUEUE`` pending connections.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from ferbias.data.images import ImageReadError
from ferbias.data.schema import GENDERS

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOCAL_NAMES = ("127.0.0.1", "localhost")
MAX_BODY_BYTES = 4096
DRAIN_LIMIT = 1 << 20  # read (and discard) oversized bodies up to this, so the reply arrives
REQUEST_QUEUE = 256  # pending connections; the stdlib default (5) resets bursts of answers
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "annotate.js": "text/javascript; charset=utf-8",
    "annotate.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
NOT_LOCAL = "the annotation server binds to 127.0.0.1 only, not {host!r}"
BAD_HOST = "Host {host!r} refused: use http://127.0.0.1:{port}/ or http://localhost:{port}/"
BAD_ORIGIN = "Origin {origin!r} refused: requests must come from this page"
NO_SUCH_PAGE = "no such page {path!r} for {method}"
NO_SUCH_FILE = "no such file {name!r}"
SERVER_ERROR = "server error: {error}"
BAD_GENDER = "gender must be one of {allowed}"
NO_ID = "an 'id' string is required"
ID_OUTSIDE = "ids may not leave the source folder"
UNKNOWN_ID = "unknown id {item_id!r}"
NO_LENGTH = "Content-Length required"
NOT_JSON_TYPE = "send application/json"
BAD_BODY_SIZE = "body empty or too large"
BAD_JSON = "body is not valid JSON"
DEEP_JSON = "body is nested too deeply"
NOT_AN_OBJECT = "body must be a JSON object"


class Store(Protocol):
    """What the server needs of a mode (``ReviewStore``, ``BlindStore``)."""

    output_path: Path

    def header(self) -> dict: ...
    def knows(self, item_id: str) -> bool: ...
    def items(self) -> list[dict]: ...
    def png(self, item_id: str) -> bytes: ...
    def label(self, item_id: str, gender: str) -> dict: ...
    def undo(self, item_id: str) -> dict: ...


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class AnnotationHandler(BaseHTTPRequestHandler):
    """Routes requests to the store on ``self.server.store``."""

    server_version = "ferbias-annotate"
    default_request_version = "HTTP/1.0"  # errors on garbled request lines get a status line
    timeout = 30  # seconds a client may stall (e.g. a body shorter than its Content-Length)

    def do_GET(self) -> None:
        self._dispatch(
            {"/": self._page, "/api/items": self._items, "/api/image": self._image},
            prefixes={"/static/": self._static},
        )

    def do_POST(self) -> None:
        self._dispatch({"/api/label": self._label, "/api/undo": self._undo})

    def _refuse_method(self) -> None:
        self._dispatch({})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _refuse_method

    def _dispatch(
        self, routes: dict[str, Callable[[dict], None]], prefixes: dict | None = None
    ) -> None:
        prefixes = prefixes or {}
        try:
            self._check_host_and_origin()
            parts = urlsplit(self.path)
            route = routes.get(parts.path) or next(
                (r for p, r in prefixes.items() if parts.path.startswith(p)), None
            )
            if route is None:
                known = routes or prefixes
                status = HTTPStatus.NOT_FOUND if known else HTTPStatus.METHOD_NOT_ALLOWED
                raise ApiError(status, NO_SUCH_PAGE.format(path=parts.path, method=self.command))
            route(parse_qs(parts.query, keep_blank_values=True))
        except ApiError as error:
            self._send_json(error.status, {"error": str(error)})
        except ImageReadError as error:  # the message names the file
            log.warning("annotate: %s", error)
            self._send_json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(error)})
        except Exception as error:
            log.exception("annotate: %s %s failed", self.command, self.path)
            self._send_json(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": SERVER_ERROR.format(error=error)}
            )

    def _check_host_and_origin(self) -> None:
        port = self.server.server_address[1]
        allowed = {f"{name}:{port}" for name in LOCAL_NAMES}
        host = self.headers.get("Host", "")
        if host not in allowed:
            raise ApiError(HTTPStatus.FORBIDDEN, BAD_HOST.format(host=host, port=port))
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{a}" for a in allowed}:
            raise ApiError(HTTPStatus.FORBIDDEN, BAD_ORIGIN.format(origin=origin))

    def _page(self, _query: dict) -> None:
        self._static_file("index.html")

    def _static(self, _query: dict) -> None:
        self._static_file(urlsplit(self.path).path.removeprefix("/static/"))

    def _static_file(self, name: str) -> None:
        if name not in STATIC:
            raise ApiError(HTTPStatus.NOT_FOUND, NO_SUCH_FILE.format(name=name))
        body = resources.files("ferbias.annotate").joinpath("static", name).read_bytes()
        self._send(HTTPStatus.OK, body, STATIC[name])

    def _items(self, _query: dict) -> None:
        store = self.server.store
        self._send_json(HTTPStatus.OK, {**store.header(), "items": store.items()})

    def _image(self, query: dict) -> None:
        item_id = self._known_id(query.get("id", [None])[0])
        self._send(HTTPStatus.OK, self.server.store.png(item_id), "image/png")

    def _label(self, _query: dict) -> None:
        body = self._json_body()
        gender = body.get("gender")
        if not isinstance(gender, str) or gender not in GENDERS:
            raise ApiError(HTTPStatus.BAD_REQUEST, BAD_GENDER.format(allowed=list(GENDERS)))
        item_id = self._known_id(body.get("id"))
        self._send_json(HTTPStatus.OK, self.server.store.label(item_id, gender))

    def _undo(self, _query: dict) -> None:
        item_id = self._known_id(self._json_body().get("id"))
        self._send_json(HTTPStatus.OK, self.server.store.undo(item_id))

    def _known_id(self, item_id: object) -> str:
        if not isinstance(item_id, str) or not item_id:
            raise ApiError(HTTPStatus.BAD_REQUEST, NO_ID)
        if ".." in Path(item_id).parts or item_id.startswith("/"):
            raise ApiError(HTTPStatus.BAD_REQUEST, ID_OUTSIDE)
        if not self.server.store.knows(item_id):
            raise ApiError(HTTPStatus.NOT_FOUND, UNKNOWN_ID.format(item_id=item_id))
        return item_id

    def _json_body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, NO_LENGTH) from None
        raw = self.rfile.read(length) if 0 < length <= DRAIN_LIMIT else b""
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, NOT_JSON_TYPE)
        if not 0 < length <= MAX_BODY_BYTES:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, BAD_BODY_SIZE)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(HTTPStatus.BAD_REQUEST, BAD_JSON) from None
        except RecursionError:
            raise ApiError(HTTPStatus.BAD_REQUEST, DEEP_JSON) from None
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, NOT_AN_OBJECT)
        return body

    def _send_json(self, status: HTTPStatus, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("annotate: " + format, *args)


class AnnotationServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = REQUEST_QUEUE

    def __init__(self, store: Store, port: int) -> None:
        super().__init__((HOST, port), AnnotationHandler)
        self.store = store


def make_server(store: Store, *, port: int = 0, host: str = HOST) -> AnnotationServer:
    """A server bound to 127.0.0.1 (port 0: any free port; see ``server.server_address``)."""
    if host != HOST:
        raise ValueError(NOT_LOCAL.format(host=host))
    return AnnotationServer(store, port)


def serve(store: Store, *, port: int = 8765) -> None:
    """Serve until interrupted."""
    server = make_server(store, port=port)
    port = server.server_address[1]
    log.info("annotating at http://%s:%d/ (Ctrl-C to stop)", HOST, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped; answers are in %s", store.output_path)
    finally:
        server.server_close()
