"""Day 03 model server, object style: a ModelServer holding its state, a WSGI
middleware doing the metrics, the model loaded by a background thread."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlparse
from urllib.request import url2pathname

import skops.io
from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

LIMIT = 1 << 20
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class BadRequestBody(Exception):
    """The client's fault: answered 400."""


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _no_constants(text):
    raise BadRequestBody(f"{text} is not allowed")


def _as_float(text):
    number = float(text)
    if math.isinf(number):
        raise BadRequestBody(f"{text[:20]} does not fit in a float")
    return number


def _as_int(text):
    number = int(text)  # may raise ValueError past Python's digit limit
    try:
        float(number)
    except OverflowError:
        raise BadRequestBody("an integer too large for a float") from None
    return number


def decode_rows(raw: bytes) -> list[list[float]]:
    try:
        document = json.loads(raw, parse_constant=_no_constants, parse_float=_as_float, parse_int=_as_int)
    except BadRequestBody:
        raise
    except (ValueError, RecursionError):
        raise BadRequestBody("the body is not valid JSON") from None
    if type(document) is not dict:
        raise BadRequestBody('send a JSON object {"features": [[f, f, f, f], ...]}')
    features = document.get("features")
    if type(features) is not list or len(features) == 0:
        raise BadRequestBody('"features" must be a non-empty list')
    if all(type(item) in (int, float) for item in features):
        features = [features]
    rows = []
    for position, row in enumerate(features):
        if type(row) is not list or len(row) != 4 or any(type(v) not in (int, float) for v in row):
            raise BadRequestBody(f"row {position} is not a list of exactly 4 numbers")
        rows.append([float(v) for v in row])
    return rows


class ModelServer:
    def __init__(self, config: Mapping[str, str] | None):
        given = dict(config or {})
        merged = {}
        for name in SETTINGS:
            value = given.get(name) or os.environ.get(name) or ""
            if value:
                merged[name] = value
        self.version = merged.get("MODEL_VERSION", "0+unknown")
        self.source = self._where(merged)
        self.model = None
        self.loaded = threading.Event()
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    @staticmethod
    def _where(merged):
        if "MODEL_PATH" in merged:
            return merged["MODEL_PATH"]
        if "MODEL_URI" in merged:
            try:
                parsed = urlparse(merged["MODEL_URI"])
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                return None
            if parsed.scheme.lower() == "file" and parsed.netloc in ("", "localhost"):
                return url2pathname(parsed.path)
        return None

    def _load(self):
        if self.source is None:
            return
        try:
            self.model = skops.io.load(self.source)
            self.loaded.set()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            print(f"model not loaded from {self.source}: {error!r}", file=sys.stderr)

    @property
    def ready(self):
        return self.loaded.is_set()


def _read_limited(stream) -> bytes:
    buffer = bytearray()
    while len(buffer) <= LIMIT:
        piece = stream.read(min(65536, LIMIT + 1 - len(buffer)))
        if not piece:
            return bytes(buffer)
        buffer += piece
    raise RequestEntityTooLarge("the body is over 1 MiB")


class Metrics:
    """WSGI middleware: counts and times every answered request but /metrics."""

    def __init__(self, wsgi_app, routes):
        self.wsgi_app, self.routes = wsgi_app, routes
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.seconds = Histogram("model_request_latency_seconds", "Time to answer", ("endpoint",),
                                 registry=self.registry)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self.wsgi_app(environ, start_response)
        begun = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["code"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        # a 405 is a method no route takes: unmatched, like a 404
        label = path if path in self.routes and seen.get("code") != "405" else "unmatched"
        self.requests.labels(endpoint=label, status=seen.get("code", "500")).inc()
        self.seconds.labels(endpoint=label).observe(time.perf_counter() - begun)
        return result


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    server = ModelServer(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1

    def health():
        return _json({"status": "ok", "model_version": server.version})

    def ready():
        if not server.ready:
            return _json({"ready": False, "error": "model not loaded"}, 503)
        return _json({"ready": True}, 200)

    def predict():
        if not server.ready:
            return _json({"error": "the model is not loaded"}, 503)
        try:
            rows = decode_rows(_read_limited(request.stream))
        except BadRequestBody as problem:
            return _json({"error": str(problem)}, 400)
        labels = server.model.predict(rows)
        return _json({"predictions": labels.tolist(), "model_version": server.version})

    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])

    def on_http_error(error: HTTPException):
        return _json({"error": f"{error.code} {error.name}"}, error.code or 500)

    def on_crash(error: Exception):
        if isinstance(error, HTTPException):
            return on_http_error(error)
        app.logger.exception("predict failed")
        return on_http_error(InternalServerError())

    app.register_error_handler(HTTPException, on_http_error)
    app.register_error_handler(Exception, on_crash)

    metrics = Metrics(app.wsgi_app, {"/health", "/ready", "/predict"})
    app.wsgi_app = metrics
    app.add_url_rule("/metrics", "metrics", lambda: Response(generate_latest(metrics.registry),
                                                              content_type=CONTENT_TYPE_LATEST))
    return app
