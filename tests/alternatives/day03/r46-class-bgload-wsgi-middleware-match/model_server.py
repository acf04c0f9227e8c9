"""Day 03 model server: a ModelServer class, background loading, a WSGI middleware for metrics,
and validation by structural pattern matching over JSON parsed straight into floats."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import Flask, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

log = logging.getLogger(__name__)

LIMIT = 1 << 20
CHUNK = 64 * 1024
NAMES = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class BadRequestBody(Exception):
    pass


def _not_finite(token: str):
    raise BadRequestBody(f"{token} is not allowed")


def _finite(value) -> bool:
    return type(value) is float and math.isfinite(value)


def _row(value) -> bool:
    match value:
        case [a, b, c, d]:
            return all(_finite(v) for v in (a, b, c, d))
        case _:
            return False


def decode(body: bytes) -> list[list[float]]:
    try:
        # every JSON number becomes a Python float here: an integer too large for a float is inf
        document = json.loads(body, parse_int=float, parse_float=float, parse_constant=_not_finite)
    except BadRequestBody:
        raise
    except (ValueError, RecursionError):
        raise BadRequestBody("the body is not valid JSON") from None
    match document:
        case {"features": [*items]} if items:
            pass
        case _:
            raise BadRequestBody('expected an object with a non-empty "features" list')
    if all(isinstance(item, list) for item in items):
        rows = items
    elif any(isinstance(item, list) for item in items):
        raise BadRequestBody("features mixes rows and numbers")
    else:
        rows = [items]
    if not all(_row(row) for row in rows):
        raise BadRequestBody("every row must be exactly 4 finite numbers")
    return rows


class MetricsMiddleware:
    """Counts and times every answered request at the WSGI level, except /metrics."""

    def __init__(self, app: Flask, wsgi_app):
        self.flask_app, self.wsgi_app = app, wsgi_app
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests", "Answered requests.", ["endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Latency in seconds.", ["endpoint"],
                                 registry=self.registry)

    def endpoint(self, environ) -> str:
        try:
            rule, _ = self.flask_app.url_map.bind_to_environ(environ).match(return_rule=True)
        except (NotFound, MethodNotAllowed):
            return "unmatched"
        except HTTPException:
            return "unmatched"
        return rule.rule

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        endpoint = self.endpoint(environ)
        if endpoint == "/metrics":
            return self.wsgi_app(environ, start_response)

        def counting_start_response(status, headers, exc_info=None):
            self.requests.labels(endpoint, status.split(" ", 1)[0]).inc()
            self.latency.labels(endpoint).observe(time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, counting_start_response)


class ModelServer:
    def __init__(self, config: Mapping[str, str] | None):
        merged = {name: os.environ.get(name, "") for name in NAMES}
        for name in NAMES:
            if config is not None and name in config:
                merged[name] = config[name]  # an empty value in config hides the variable: unset
        self.settings = {name: value for name, value in merged.items() if value}
        self.version = self.settings.get("MODEL_VERSION", "dev")
        self.model = None
        self.loaded = threading.Event()
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _file(self) -> str | None:
        if "MODEL_PATH" in self.settings:
            return self.settings["MODEL_PATH"]
        if "MODEL_URI" not in self.settings:
            return None
        uri = urlsplit(self.settings["MODEL_URI"])
        if uri.scheme.lower() != "file" or uri.netloc.lower() not in ("", "localhost"):
            raise ValueError(f"not a local file URI: {self.settings['MODEL_URI']}")
        return url2pathname(uri.path)

    def _load(self):
        try:
            path = self._file()
            if path is None:
                raise FileNotFoundError("no MODEL_PATH or MODEL_URI")
            from skops.io import load

            self.model = load(path)
            self.loaded.set()
        except Exception:
            log.exception("model not loaded")

    @property
    def ready(self) -> bool:
        return self.loaded.is_set()

    @staticmethod
    def body() -> bytes:
        stream, buffer = request.stream, bytearray()
        while len(buffer) <= LIMIT:
            chunk = stream.read(CHUNK)
            if not chunk:
                return bytes(buffer)
            buffer += chunk
        raise RequestEntityTooLarge()

    def build(self) -> Flask:
        app = Flask(__name__)
        app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
        metrics = MetricsMiddleware(app, app.wsgi_app)
        app.wsgi_app = metrics

        @app.errorhandler(HTTPException)
        def _http(error: HTTPException):
            return jsonify({"error": f"{error.code} {error.name}"}), error.code

        @app.errorhandler(BadRequestBody)
        def _bad(error: BadRequestBody):
            return jsonify({"error": str(error)}), 400

        @app.errorhandler(Exception)
        def _crash(error: Exception):
            log.exception("internal error")
            return jsonify({"error": "internal server error"}), 500

        app.add_url_rule("/health", "health", lambda: jsonify({"status": "ok", "model_version": self.version}))
        app.add_url_rule("/ready", "ready", self._ready_view)
        app.add_url_rule("/predict", "predict", self._predict_view, methods=["POST"])
        app.add_url_rule("/metrics", "metrics", lambda: (generate_latest(metrics.registry), 200,
                                                         {"Content-Type": CONTENT_TYPE_LATEST}))
        return app

    def _ready_view(self):
        if self.ready:
            return jsonify({"ready": True})
        return jsonify({"ready": False, "error": "model not loaded"}), 503

    def _predict_view(self):
        if not self.ready:
            return jsonify({"error": "model not loaded"}), 503
        rows = decode(self.body())
        predictions = self.model.predict(rows)  # a model failure falls to the 500 handler
        return jsonify({"predictions": predictions.tolist(), "model_version": self.version})


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(config).build()
