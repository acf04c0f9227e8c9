"""Model server: Flask routes, before/after_request hooks for metrics."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping

import numpy as np
import skops.io
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)
MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    pass


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        try:
            return math.isfinite(float(value))
        except OverflowError:
            return False
    return isinstance(value, float) and math.isfinite(value)


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not valid JSON: {type(error).__name__}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('body must be an object with "features"')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" must be a non-empty list')
    rows = features if isinstance(features[0], list) else [features]
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("each row must be a list of exactly 4 numbers")
        if not all(_is_number(v) for v in row):
            raise InvalidInput("each row must hold 4 finite numbers")
    return [[float(v) for v in row] for row in rows]


def _settings(config):
    settings = {k: os.environ[k] for k in KEYS if k in os.environ}
    settings.update({k: v for k, v in (config or {}).items() if v is not None})
    return settings


def _load(settings):
    path = settings.get("MODEL_PATH")
    if not path:
        uri = settings.get("MODEL_URI") or ""
        try:
            scheme, host, uri_path, _, _ = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        path = unquote(uri_path) if scheme == "file" and host in ("", "localhost") else uri
    if not path:
        log.error("no MODEL_PATH or MODEL_URI set")
        return None
    try:
        return skops.io.load(path)
    except Exception:
        log.exception("could not load the model from %s", path)
        return None


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = _load(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # see limit_body: the byte past 1 MiB shows a chunked body is too long

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.before_request
    def limit_body():
        # Without a Content-Length Flask reads a chunked body up to MAX_CONTENT_LENGTH and stops there
        # silently; the body is cached, so predict reads the same bytes.
        if request.endpoint == "predict" and len(request.get_data()) > MiB:
            raise RequestEntityTooLarge("the body is over 1 MiB")

    @app.after_request
    def record(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify(error=str(error) or "invalid input"), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready", model_version=version, error="model not loaded"), 503
        return jsonify(status="ready", model_version=version)

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_rows(request.get_data())
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return app
