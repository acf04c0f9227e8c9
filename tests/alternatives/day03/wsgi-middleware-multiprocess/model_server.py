"""Day 03 model server: a ModelService object, a WSGI middleware for metrics,
manual body-size enforcement, and multiprocess Prometheus metrics when
PROMETHEUS_MULTIPROC_DIR is set (several gunicorn workers)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from numbers import Real

from flask import Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, NotFound
from urllib.parse import unquote, urlsplit

LIMIT = 1 << 20
_SETTING_NAMES = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


def json_response(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class BadRequestBody(Exception):
    pass


class _Decoder(json.JSONDecoder):
    def __init__(self):
        def nope(token):
            raise BadRequestBody(f"{token} is not allowed")
        super().__init__(parse_constant=nope)


def _check_number(value):
    if type(value) is bool or not isinstance(value, Real) or isinstance(value, str):
        raise BadRequestBody(f"not a number: {value!r}")
    try:
        as_float = float(value)
    except (OverflowError, ValueError):
        raise BadRequestBody("number out of range")
    if math.isinf(as_float) or math.isnan(as_float):
        raise BadRequestBody("number must be finite")
    return as_float


def read_features(raw: bytes):
    try:
        text = raw.decode("utf-8")
        document = _Decoder().decode(text)
    except BadRequestBody:
        raise
    except Exception as exc:  # ValueError, UnicodeDecodeError, RecursionError
        raise BadRequestBody(f"invalid JSON ({type(exc).__name__})")
    features = document.get("features") if isinstance(document, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequestBody('expected an object with a non-empty "features" list')
    if all(type(x) is not list for x in features):
        features = [features]
    matrix = []
    for row in features:
        if type(row) is not list or len(row) != 4:
            raise BadRequestBody("each row must hold exactly 4 numbers")
        matrix.append([_check_number(v) for v in row])
    return matrix


class ModelService:
    def __init__(self, settings: dict):
        self.version = settings.get("MODEL_VERSION") or "dev"
        self.model = None
        source = settings.get("MODEL_PATH")
        if not source and settings.get("MODEL_URI"):
            try:
                uri = urlsplit(settings["MODEL_URI"])
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                uri = urlsplit("")
            source = unquote(uri.path) if uri.scheme == "file" and uri.netloc in ("", "localhost") else None
        if source:
            try:
                from skops.io import load
                self.model = load(source)
            except Exception as exc:
                print(f"model not loaded from {source}: {exc!r}", file=sys.stderr)

    @property
    def ready(self):
        return self.model is not None

    def predict(self, rows):
        import numpy
        return [x.item() if hasattr(x, "item") else x for x in self.model.predict(numpy.array(rows))]


class MetricsMiddleware:
    def __init__(self, app: Flask, inner):
        self.flask_app, self.inner = app, inner
        self.multiproc = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiproc else CollectorRegistry()
        kwargs = {} if self.multiproc else {"registry": self.registry}
        if self.multiproc:
            os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
            kwargs = {"registry": None}
        self.requests = Counter("model_requests_total", "answered requests", ("endpoint", "status"), **kwargs)
        self.latency = Histogram("model_request_latency_seconds", "latency", ("endpoint",), **kwargs)

    def exposition(self) -> bytes:
        if self.multiproc:
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def _endpoint(self, environ):
        try:
            rule, _ = self.flask_app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except HTTPException:  # 404 and 405 alike: no route takes the request
            return "unmatched"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        t0 = time.monotonic()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self.inner(environ, recording_start_response)
        finally:
            endpoint = self._endpoint(environ)
            self.requests.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
            self.latency.labels(endpoint=endpoint).observe(time.monotonic() - t0)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    config = dict(config or {})
    settings = {name: config[name] if name in config else os.environ.get(name) for name in _SETTING_NAMES}
    settings = {k: v for k, v in settings.items() if v is not None}
    service = ModelService(settings)

    app = Flask(__name__)
    metrics = MetricsMiddleware(app, app.wsgi_app)
    app.wsgi_app = metrics

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return json_response({"error": exc.name}, exc.code)

    @app.errorhandler(BadRequestBody)
    def bad_body(exc):
        return json_response({"error": str(exc)}, 400)

    @app.route("/health", methods=["GET"])
    def health():
        return json_response({"status": "ok", "model_version": service.version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if not service.ready:
            return json_response({"ready": False, "error": "model not loaded"}, 503)
        return json_response({"ready": True}, 200)

    @app.route("/predict", methods=["POST"])
    def predict():
        if request.content_length is not None and request.content_length > LIMIT:
            abort(413)
        raw = request.stream.read(LIMIT + 1)
        if len(raw) > LIMIT:
            abort(413)
        if not service.ready:
            return json_response({"error": "model not loaded"}, 503)
        rows = read_features(raw)
        return json_response({"predictions": service.predict(rows), "model_version": service.version})

    @app.route("/metrics", methods=["GET"])
    def metrics_route():
        return Response(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app
