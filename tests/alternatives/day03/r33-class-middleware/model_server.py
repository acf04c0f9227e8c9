"""Model server: a class holding the state, a WSGI middleware for metrics, background model loading."""
from __future__ import annotations

import json
import logging
import numbers
import os
import sys
import threading
import time
from collections import ChainMap
from collections.abc import Mapping
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

LOG = logging.getLogger("model_server")
LIMIT = 1 << 20
FLOAT_MAX = sys.float_info.max


class BadRequestBody(Exception):
    """The client sent something we cannot predict on."""


def _no_constants(token):
    raise BadRequestBody(f"{token} is not allowed")


def _finite(value) -> float:
    if value is True or value is False or not isinstance(value, numbers.Real):
        raise BadRequestBody(f"not a number: {value!r}")
    if isinstance(value, int):
        if abs(value) > FLOAT_MAX:
            raise BadRequestBody("integer out of float range")
        return float(value)
    if not (-FLOAT_MAX <= value <= FLOAT_MAX):  # NaN fails both comparisons
        raise BadRequestBody("number not finite")
    return float(value)


def read_batch(raw: bytes) -> list[list[float]]:
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, parse_constant=_no_constants)
    except BadRequestBody:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequestBody("the body is not valid JSON") from None
    if type(document) is not dict or "features" not in document:
        raise BadRequestBody('expected an object with "features"')
    features = document["features"]
    if type(features) is not list or len(features) == 0:
        raise BadRequestBody('"features" must be a non-empty list')
    if any(isinstance(item, list) for item in features):
        batch = features
    else:
        batch = [features]
    result = []
    for index, row in enumerate(batch):
        if type(row) is not list or len(row) != 4:
            raise BadRequestBody(f"row {index} must be a list of exactly 4 numbers")
        result.append([_finite(v) for v in row])
    return result


def _resolve(settings: Mapping[str, str]) -> str | None:
    path = settings.get("MODEL_PATH")
    if path:
        return path
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    try:
        parsed = urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parsed.scheme.lower() != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return url2pathname(parsed.path)


class ModelServer:
    def __init__(self, config: Mapping[str, str] | None):
        given = {k: v for k, v in (config or {}).items() if v}
        environment = {k: v for k, v in os.environ.items() if v}
        view = ChainMap(given, environment)
        self.version = view.get("MODEL_VERSION") or "0+unknown"
        self.source = _resolve(view)
        self.model = None
        self.loaded = threading.Event()
        threading.Thread(target=self._load, daemon=True).start()

    def _load(self):
        if self.source is None:
            LOG.warning("no MODEL_PATH or file:// MODEL_URI; not ready")
            return
        try:
            from skops.io import load

            self.model = load(self.source)
            self.loaded.set()
        except Exception as error:  # noqa: BLE001
            LOG.error("model %s could not be loaded: %r", self.source, error)

    def predict(self, rows):
        import numpy

        return self.model.predict(numpy.array(rows, dtype=numpy.float64)).tolist()


class Metrics:
    """WSGI middleware: counts and times every answer except GET /metrics itself."""

    def __init__(self, app: Flask):
        self.app = app
        self.inner = app.wsgi_app
        self.registry = CollectorRegistry()
        self.count = Counter("model_requests_total", "answered requests", ("endpoint", "status"),
                             registry=self.registry)
        self.seconds = Histogram("model_request_latency_seconds", "latency", ("endpoint",), registry=self.registry)

    def _endpoint(self, environ) -> str:
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (NotFound, MethodNotAllowed, HTTPException):
            return "unmatched"

    def __call__(self, environ, start_response):
        begun = time.perf_counter()
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        endpoint = self._endpoint(environ)
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self.inner(environ, recording_start_response)
        finally:
            self.count.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
            self.seconds.labels(endpoint=endpoint).observe(time.perf_counter() - begun)


def _json(payload, status):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    server = ModelServer(config)
    app = Flask(__name__)
    # LIMIT + 1: Flask reads a chunked body (no Content-Length) only up to here, and predict needs to
    # see the byte past LIMIT to know the body is too long.
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
    metrics = Metrics(app)
    app.wsgi_app = metrics

    def http_error(error: HTTPException):
        return _json({"error": f"{error.code} {error.name}"}, error.code)

    def bad_body(error: BadRequestBody):
        return _json({"error": str(error)}, 400)

    def crash(error: Exception):
        LOG.exception("unexpected failure")
        return _json({"error": "the server failed to answer"}, 500)

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(BadRequestBody, bad_body)
    app.register_error_handler(Exception, crash)

    def health():
        return _json({"status": "ok", "model_version": server.version}, 200)

    def ready():
        if server.loaded.is_set():
            return _json({"ready": True}, 200)
        return _json({"ready": False, "error": "model not loaded"}, 503)

    def predict():
        if not server.loaded.is_set():
            return _json({"error": "no model loaded yet"}, 503)
        raw = request.get_data(cache=False)
        if len(raw) > LIMIT:
            return _json({"error": "413 Request Entity Too Large"}, 413)
        rows = read_batch(raw)
        return _json({"predictions": server.predict(rows), "model_version": server.version}, 200)

    def metrics_route():
        return Response(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.add_url_rule("/health", "health", health, methods=["GET"])
    app.add_url_rule("/ready", "ready", ready, methods=["GET"])
    app.add_url_rule("/predict", "predict", predict, methods=["POST"])
    app.add_url_rule("/metrics", "metrics", metrics_route, methods=["GET"])
    return app
