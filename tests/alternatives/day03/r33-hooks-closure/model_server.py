"""Model server: Flask hooks and closures."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    pass


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _settings(config):
    merged = {}
    for key in KEYS:
        value = os.environ.get(key)
        if value:
            merged[key] = value
    for key in KEYS:
        if config and config.get(key):
            merged[key] = config[key]
    return merged


def _model_file(settings):
    if settings.get("MODEL_PATH"):
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def _load(settings):
    import skops.io

    path = _model_file(settings)
    if path is None:
        log.warning("no local model configured")
        return None
    try:
        return skops.io.load(path)
    except Exception:  # noqa: BLE001
        log.exception("could not load model from %s", path)
        return None


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        as_float = float(value)
    except OverflowError:
        raise InvalidInput("number too large") from None
    if not math.isfinite(as_float):
        raise InvalidInput("number not finite")
    return as_float


def parse_rows(body: bytes):
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body should be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("features should be a non-empty list")
    rows = features if all(isinstance(item, list) for item in features) else [features]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("each row should be 4 numbers")
        out.append([_number(v) for v in row])
    return out


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = _load(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    requests_total = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            started = g.get("started", time.perf_counter())
            requests_total.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify(error=str(error)), 400

    @app.errorhandler(Exception)
    def failure(error):
        log.exception("server error")
        return jsonify(error="internal server error"), 500

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
        body = request.get_data()  # a chunked body: at most MAX_CONTENT_LENGTH, one byte past 1 MiB
        if len(body) > MiB:
            raise RequestEntityTooLarge("the body is over 1 MiB")
        rows = parse_rows(body)
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
