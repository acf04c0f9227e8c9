"""Day-03 model server (style B: a ModelService object, WSGI middleware for metrics, numpy validation)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import ChainMap
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

LOG = logging.getLogger("model_server")
LIMIT = 1 << 20
DEFAULT_VERSION = "dev"


class BadBody(BadRequest):
    """A 400 whose description says what is wrong."""


def resolve_model_location(settings: Mapping[str, str]) -> str:
    path = settings.get("MODEL_PATH")
    if path:
        return path
    uri = settings.get("MODEL_URI")
    if not uri:
        raise LookupError("no MODEL_PATH or MODEL_URI")
    parsed = urlparse(uri)
    if parsed.scheme.lower() != "file" or parsed.netloc.lower() not in ("", "localhost"):
        raise LookupError(f"unsupported MODEL_URI {uri!r}")
    return unquote(parsed.path)


class ModelService:
    def __init__(self, config: Mapping[str, str] | None):
        non_empty_config = {k: v for k, v in (config or {}).items() if v != ""}
        non_empty_env = {k: v for k, v in os.environ.items() if v != ""}
        settings = dict(ChainMap(non_empty_config, non_empty_env))
        self.version = settings.get("MODEL_VERSION") or DEFAULT_VERSION
        self.model = None
        try:
            from skops.io import load
            self.model = load(resolve_model_location(settings))
        except Exception as error:  # a missing or broken model leaves the server alive, not ready
            LOG.warning("model not loaded: %s", error)

    # --- request parsing ---------------------------------------------------------
    @staticmethod
    def read_limited(stream) -> bytes:
        buffer = bytearray()
        for chunk in iter(lambda: stream.read(LIMIT + 1 - len(buffer)), b""):
            buffer += chunk
            if len(buffer) > LIMIT:
                raise RequestEntityTooLarge("request body is over 1 MiB")
        return bytes(buffer)

    @staticmethod
    def decode(body: bytes):
        def no_constants(token):
            raise BadBody(f"{token} is not valid JSON")

        try:
            return json.loads(body.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
            raise BadBody(f"body is not JSON: {error}") from None

    @staticmethod
    def to_matrix(document) -> np.ndarray:
        if type(document) is not dict:
            raise BadBody("body must be a JSON object")
        features = document.get("features")
        if type(features) is not list or len(features) == 0:
            raise BadBody("'features' must be a non-empty list")
        kinds = {type(item) is list for item in features}
        if kinds == {False}:
            features = [features]
        elif kinds != {True}:
            raise BadBody("'features' mixes rows and numbers")
        matrix = np.empty((len(features), 4), dtype=np.float64)
        for i, row in enumerate(features):
            if type(row) is not list or len(row) != 4:
                raise BadBody(f"row {i} must hold exactly 4 numbers")
            for j, cell in enumerate(row):
                if type(cell) not in (int, float):
                    raise BadBody(f"row {i}, column {j}: {cell!r} is not a number")
                try:
                    matrix[i, j] = cell
                except OverflowError:
                    raise BadBody(f"row {i}, column {j}: too large") from None
        if not np.isfinite(matrix).all():
            raise BadBody("numbers must be finite")
        return matrix

    def predict(self, body: bytes):
        return self.model.predict(self.to_matrix(self.decode(body))).tolist()


class MetricsMiddleware:
    """Counts and times every answered request except /metrics, by route pattern."""

    def __init__(self, app: Flask, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Answered HTTP requests", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Time to answer a request, in seconds",
                                 ("endpoint",), registry=self.registry)

    def route_of(self, environ) -> str:
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (NotFound, MethodNotAllowed):
            return "unmatched"
        except HTTPException:
            return "unmatched"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.wsgi_app(environ, start_response)
        began = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        endpoint = self.route_of(environ)
        self.requests.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
        self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - began)
        return result


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    service = ModelService(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1

    def error_json(error: HTTPException):
        return jsonify({"error": error.description or error.name}), error.code

    def crash_json(error: Exception):
        LOG.exception("unhandled error")
        return jsonify({"error": f"server error: {type(error).__name__}"}), 500

    app.register_error_handler(HTTPException, error_json)
    app.register_error_handler(Exception, crash_json)

    def health():
        return jsonify({"status": "ok", "model_version": service.version})

    def ready():
        if service.model is None:
            return jsonify({"ready": False, "error": "model not loaded"}), 503
        return jsonify({"ready": True, "model_version": service.version})

    def predict():
        body = service.read_limited(request.stream)
        if service.model is None:
            return jsonify({"error": "model not loaded"}), 503
        return jsonify({"predictions": service.predict(body), "model_version": service.version})

    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])

    middleware = MetricsMiddleware(app, app.wsgi_app)
    app.wsgi_app = middleware
    app.add_url_rule("/metrics", view_func=lambda: Response(generate_latest(middleware.registry),
                                                            mimetype=None, content_type=CONTENT_TYPE_LATEST),
                     endpoint="metrics", methods=["GET"])
    return app
