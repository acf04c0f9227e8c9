"""Model server, class style: a ModelServer object owns settings, model and metrics;
a WSGI middleware times and counts every answered request."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

MAX_BODY = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class BadRequestBody(Exception):
    pass


def _reject_constant(name):
    raise BadRequestBody(f"{name} is not a finite number")


def _number(text):
    value = float(text)
    if not math.isfinite(value):
        raise BadRequestBody(f"{text[:20]} is not a finite number")
    return value


def _settings(config: Mapping[str, str] | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    for key in KEYS:
        env_value = os.environ.get(key)
        if env_value:
            merged[key] = env_value
        if config is not None and config.get(key):
            merged[key] = config[key]
    return merged


def _model_location(settings: dict[str, str]) -> str | None:
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


class ModelServer:
    def __init__(self, settings: dict[str, str]):
        self.version = settings.get("MODEL_VERSION") or "unversioned"
        self.model = None
        location = _model_location(settings)
        if location:
            try:
                import skops.io

                self.model = skops.io.load(location)
            except Exception as error:  # noqa: BLE001 - any failure means "not ready"
                print(f"model not loaded from {location}: {error!r}")
        self.registry = CollectorRegistry()
        self.answered = Counter("model_requests_total", "Answered requests", ["endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Request latency in seconds", ["endpoint"],
                                 registry=self.registry)

    def rows(self, raw: bytes) -> list[list[float]]:
        if len(raw) > MAX_BODY:  # a chunked body, read up to MAX_CONTENT_LENGTH, went past the limit
            raise RequestEntityTooLarge(f"the body is over {MAX_BODY} bytes")
        try:
            body = json.loads(raw, parse_constant=_reject_constant, parse_float=_number, parse_int=_number)
        except (ValueError, RecursionError) as error:
            raise BadRequestBody(f"body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise BadRequestBody("body must be a JSON object")
        features = body.get("features")
        if not isinstance(features, list) or not features:
            raise BadRequestBody("features must be a non-empty list")
        batch = features if all(isinstance(item, list) for item in features) else [features]
        for row in batch:
            if not isinstance(row, list) or len(row) != 4 or any(type(v) is not float for v in row):
                raise BadRequestBody("every row must be exactly 4 finite numbers")
        return batch

    def predict(self, rows):
        with np.errstate(all="ignore"):
            return self.model.predict(np.array(rows, dtype=np.float64)).tolist()


class Instrumented:
    """WSGI middleware: times each request from its own start and counts it once answered."""

    def __init__(self, wsgi_app, server: ModelServer, routes: set[str]):
        self.wsgi_app, self.server, self.routes = wsgi_app, server, routes

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        status = []

        def recording_start_response(code, headers, exc_info=None):
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        try:
            chunks = list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        # a 405 is a method no route takes: unmatched, like a 404
        endpoint = path if path in self.routes and status[:1] != ["405"] else "unmatched"
        self.server.answered.labels(endpoint, status[0] if status else "500").inc()
        self.server.latency.labels(endpoint).observe(time.perf_counter() - started)
        return chunks


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    server = ModelServer(_settings(config))
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1  # one byte over, so rows() can see a chunked body go past

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        answer = jsonify(error=error.description or error.name)
        answer.status_code = error.code or 500
        return answer

    @app.errorhandler(BadRequestBody)
    def bad_body(error: BadRequestBody):
        return jsonify(error=str(error)), 400

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=server.version)

    @app.get("/ready")
    def ready():
        if server.model is None:
            return jsonify(status="not ready", error="model not loaded"), 503
        return jsonify(status="ready", model_version=server.version)

    @app.post("/predict")
    def predict():
        if server.model is None:
            return jsonify(error="model not loaded"), 503
        rows = server.rows(request.get_data(cache=False))
        predictions = server.predict(rows)  # the model failing on valid rows is a 500 (HTTPException handler)
        return jsonify(predictions=predictions, model_version=server.version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(server.registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    routes = {rule.rule for rule in app.url_map.iter_rules()}
    app.wsgi_app = Instrumented(app.wsgi_app, server, routes)
    return app
