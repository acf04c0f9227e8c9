"""Model server: Flask routes, a hand-rolled body reader, and metrics kept by a WSGI middleware.

The model loads in a background thread, so /ready says 503 until it is there. Metrics are
counted around the whole WSGI call; in the container, several gunicorn workers share them
through prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from urllib.parse import unquote, urlsplit

LIMIT = 1 << 20
WIDTH = 4
DEFAULT_VERSION = "dev"


def answer(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class BadRequest(Exception):
    pass


class TooLarge(Exception):
    pass


def read_body(stream, declared: int | None) -> bytes:
    """At most LIMIT bytes of the body; TooLarge as soon as it is known to be longer."""
    if declared is not None and declared > LIMIT:
        raise TooLarge()
    chunks, size = [], 0
    while size <= LIMIT:
        chunk = stream.read(LIMIT + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > LIMIT:
        raise TooLarge()
    return b"".join(chunks)


def _no_constants(token: str):
    raise BadRequest(f"{token} is not allowed")


def _finite(value: object) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is int:
        try:
            return math.isfinite(float(value))
        except OverflowError:
            return False
    return False


def to_rows(body: bytes) -> np.ndarray:
    try:
        text = body.decode("utf-8")
        document = json.JSONDecoder(parse_constant=_no_constants).decode(text)
    except BadRequest:
        raise
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid UTF-8 JSON") from None
    if type(document) is not dict or "features" not in document:
        raise BadRequest('expected a JSON object with "features"')
    features = document["features"]
    if type(features) is not list or len(features) == 0:
        raise BadRequest('"features" must be a non-empty list')
    batch = any(type(item) is list for item in features)
    rows = features if batch else [features]
    for number, row in enumerate(rows):
        if type(row) is not list or len(row) != WIDTH:
            raise BadRequest(f"row {number}: expected {WIDTH} numbers")
        for value in row:
            if not _finite(value):
                raise BadRequest(f"row {number}: {str(value)[:30]!r} is not a finite number")
    return np.array(rows, dtype=np.float64)


class ModelHolder:
    def __init__(self, path: str | None):
        self.model = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._load, args=(path,), daemon=True)
        self._thread.start()

    def _load(self, path: str | None) -> None:
        if not path:
            self.error = "no MODEL_PATH or MODEL_URI"
            return
        try:
            import skops.io

            self.model = skops.io.load(path)
        except Exception as exc:  # a missing, broken or untrusted file leaves the server not ready
            self.error = f"{type(exc).__name__}: {exc}"


class Metrics:
    """Wraps the WSGI app: counts and times every request except /metrics."""

    def __init__(self, app: Flask):
        self.app = app
        self.inner = app.wsgi_app
        multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc:
            from prometheus_client import multiprocess

            os.makedirs(multiproc, exist_ok=True)
            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry)
            target = None
        else:
            self.registry = target = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"), registry=target)
        self.latency = Histogram("model_request_latency_seconds", "Seconds to answer", ("endpoint",),
                                 registry=target)

    def endpoint(self, environ) -> str:
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (NotFound, MethodNotAllowed):
            return "unmatched"
        except Exception:
            return "unmatched"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        started = time.perf_counter()
        seen: list[str] = []

        def recording_start_response(status, headers, exc_info=None):
            seen.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.inner(environ, recording_start_response)
        finally:
            route = self.endpoint(environ)
            code = seen[-1].split(" ", 1)[0] if seen else "500"
            self.requests.labels(route, code).inc()
            self.latency.labels(route).observe(time.perf_counter() - started)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    config = dict(config or {})

    def setting(name: str) -> str | None:
        return config[name] if name in config else os.environ.get(name)

    path = setting("MODEL_PATH")
    if not path:
        uri = setting("MODEL_URI")
        try:
            parts = urlsplit(uri) if uri else None
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            parts = None
        path = unquote(parts.path) if parts and parts.scheme == "file" and parts.netloc in ("", "localhost") else uri
    version = setting("MODEL_VERSION") or DEFAULT_VERSION
    holder = ModelHolder(path)

    app = Flask(__name__)
    metrics = Metrics(app)
    app.wsgi_app = metrics

    @app.errorhandler(404)
    def not_found(_):
        return answer({"error": "no such route"}, 404)

    @app.errorhandler(405)
    def not_allowed(_):
        return answer({"error": "method not allowed"}, 405)

    @app.errorhandler(500)
    def server_error(_):  # a model failing on valid rows: the server's failure, answered in JSON too
        return answer({"error": "the server failed to answer"}, 500)

    @app.route("/health", methods=["GET"])
    def health():
        return answer({"status": "ok", "model_version": version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if holder.model is None:
            return answer({"ready": False, "error": holder.error or "model loading"}, 503)
        return answer({"ready": True})

    @app.route("/predict", methods=["POST"])
    def predict():
        model = holder.model
        if model is None:
            return answer({"error": "the model is not loaded"}, 503)
        try:
            body = read_body(request.stream, request.content_length)
            rows = to_rows(body)
        except TooLarge:
            return answer({"error": f"the body is over {LIMIT} bytes"}, 413)
        except BadRequest as exc:
            return answer({"error": str(exc) or "bad request"}, 400)
        return answer({"predictions": model.predict(rows).tolist(), "model_version": version})

    @app.route("/metrics", methods=["GET"])
    def scrape():
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return app
