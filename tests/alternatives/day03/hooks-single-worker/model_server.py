"""Model server: Flask app factory with liveness, readiness, prediction and metrics."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping

import numpy as np
from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
N_FEATURES = 4
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    """The request body is not a valid prediction request."""


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def parse_features(body: bytes) -> list[list[float]]:
    import json

    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" must be a non-empty list')
    rows = features if all(isinstance(item, list) for item in features) else [features]
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"row {index} must be a list of {N_FEATURES} numbers")
        if not all(_is_number(v) for v in row):
            raise InvalidInput(f"row {index} must hold only finite numbers")
    return [[float(v) for v in row] for row in rows]


def _settings(config: Mapping[str, str] | None) -> dict[str, str]:
    merged = {name: os.environ[name] for name in SETTINGS if name in os.environ}
    merged.update({k: v for k, v in (config or {}).items() if v is not None})
    return merged


def _load(settings: dict[str, str]):
    import skops.io

    path = settings.get("MODEL_PATH")
    if not path:
        uri = settings.get("MODEL_URI") or ""
        try:
            parts = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        local = parts.scheme == "file" and parts.netloc in ("", "localhost")
        path = unquote(parts.path) if local else uri
    if not path:
        log.error("neither MODEL_PATH nor MODEL_URI is set")
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
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency in seconds", ["endpoint"],
                        registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(InvalidInput)
    def invalid(exc):
        return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready", model_version=version, error="model not loaded"), 503
        return jsonify(status="ready", model_version=version)

    def body_within_limit() -> bytes:
        # A chunked body has no Content-Length for Flask to refuse up front: get_data() reads it up to
        # MAX_CONTENT_LENGTH and stops there without a word, so a full read means the body went on.
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY:
            raise RequestEntityTooLarge(f"the body is over {MAX_BODY} bytes")
        return body

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_features(body_within_limit())
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
