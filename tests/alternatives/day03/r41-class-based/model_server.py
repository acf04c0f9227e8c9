"""Day-03 model server, class style: a ModelServer object owns settings, model and metrics;
metrics are a WSGI middleware that matches the route itself; JSON numbers are checked by the decoder hooks."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import ChainMap
from collections.abc import Mapping
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

LIMIT = 1 << 20


class BadBody(BadRequest):
    """400 with a reason."""


def _bad_constant(text):
    raise BadBody(f"{text} is not allowed: numbers must be finite")


def _checked_float(text):
    value = float(text)
    if math.isinf(value):
        raise BadBody(f"{text[:30]} is too large for a float")
    return value


def _checked_int(text):
    try:
        value = int(text)
        float(value)
    except (ValueError, OverflowError):
        raise BadBody("an integer is too large for a float") from None
    return value


DECODER = json.JSONDecoder(parse_constant=_bad_constant, parse_float=_checked_float, parse_int=_checked_int)


class Settings:
    NAMES = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")

    def __init__(self, config: Mapping[str, str] | None):
        given = {k: v for k, v in dict(config or {}).items() if k in self.NAMES and v}
        environment = {k: os.environ[k] for k in self.NAMES if os.environ.get(k)}
        merged = ChainMap(given, environment)
        self.path = merged.get("MODEL_PATH")
        self.uri = merged.get("MODEL_URI")
        self.version = merged.get("MODEL_VERSION", "0+unknown")

    def model_file(self) -> str | None:
        if self.path:
            return self.path
        if self.uri:
            try:
                parsed = urlparse(self.uri)
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                return None
            if parsed.scheme.lower() == "file" and parsed.netloc in ("", "localhost"):
                return url2pathname(parsed.path)
        return None


class Metrics:
    """WSGI middleware: counts and times every answered request except GET /metrics."""

    def __init__(self, flask_app: Flask, inner):
        self.flask_app, self.inner = flask_app, inner
        self.registry = CollectorRegistry()
        self.count = Counter("model_requests", "answered requests", ("endpoint", "status"), registry=self.registry)
        self.seconds = Histogram("model_request_latency_seconds", "latency", ("endpoint",), registry=self.registry)

    def endpoint(self, environ) -> str:
        adapter = self.flask_app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except (MethodNotAllowed, NotFound, HTTPException):  # a 405 is unmatched, like a 404
            return "unmatched"
        return rule.rule

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        begun = time.perf_counter()
        endpoint = self.endpoint(environ)

        def recording_start_response(status, headers, exc_info=None):
            self.count.labels(endpoint, status.split(" ", 1)[0]).inc()
            self.seconds.labels(endpoint).observe(time.perf_counter() - begun)
            return start_response(status, headers, exc_info)

        return self.inner(environ, recording_start_response)


class ModelServer:
    def __init__(self, config: Mapping[str, str] | None):
        self.settings = Settings(config)
        self.model = self._load()
        self.app = Flask(__name__)
        self.app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
        self.metrics = Metrics(self.app, self.app.wsgi_app)
        self.app.wsgi_app = self.metrics
        self._routes()

    def _load(self):
        where = self.settings.model_file()
        if where is None:
            print("model server: no local model configured", file=sys.stderr)
            return None
        try:
            from skops.io import load

            return load(where)
        except Exception as error:  # noqa: BLE001 — any failure means "not ready"
            print(f"model server: cannot load {where!r}: {error!r}", file=sys.stderr)
            return None

    @staticmethod
    def _body() -> bytes:
        buffer = bytearray()
        stream = request.stream
        while len(buffer) <= LIMIT:
            piece = stream.read(min(65536, LIMIT + 1 - len(buffer)))
            if not piece:
                break
            buffer += piece
        if len(buffer) > LIMIT:
            raise RequestEntityTooLarge("request body over 1 MiB")
        return bytes(buffer)

    @staticmethod
    def _rows(raw: bytes) -> np.ndarray:
        try:
            document = DECODER.decode(raw.decode("utf-8"))
        except BadBody:
            raise
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError):
            raise BadBody("body is not valid JSON") from None
        features = document.get("features") if isinstance(document, dict) else None
        if type(features) is not list or len(features) == 0:
            raise BadBody('expected an object with a non-empty list "features"')
        rows = features if type(features[0]) is list else [features]
        for row in rows:
            if type(row) is not list or len(row) != 4:
                raise BadBody("each row must be exactly 4 numbers")
            for cell in row:
                if type(cell) not in (int, float):
                    raise BadBody(f"not a number: {json.dumps(cell)[:40]}")
        return np.array(rows, dtype=np.float64)

    def _routes(self):
        app, server = self.app, self

        @app.errorhandler(HTTPException)
        def http_error(error: HTTPException):
            return jsonify({"error": error.description or error.name}), error.code

        @app.errorhandler(Exception)
        def crash(error: Exception):
            app.logger.exception("unhandled error")
            return jsonify({"error": "internal server error"}), 500

        @app.route("/health", methods=["GET"])
        def health():
            return jsonify({"status": "ok", "model_version": server.settings.version})

        @app.route("/ready", methods=["GET"])
        def ready():
            return (jsonify({"ready": True}), 200) if server.model is not None else (
                jsonify({"ready": False, "error": "model not loaded"}), 503)

        @app.route("/predict", methods=["POST"])
        def predict():
            raw = server._body()
            if server.model is None:
                return jsonify({"error": "model not loaded"}), 503
            rows = server._rows(raw)
            labels = server.model.predict(rows)
            return jsonify({"predictions": labels.tolist(), "model_version": server.settings.version})

        @app.route("/metrics", methods=["GET"])
        def metrics():
            return Response(generate_latest(server.metrics.registry),
                            content_type=CONTENT_TYPE_LATEST)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(config).app
