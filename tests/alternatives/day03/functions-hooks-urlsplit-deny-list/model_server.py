"""Model server for day 03 (function style, Flask hooks)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
import urllib.parse
from collections.abc import Mapping

import numpy as np
import skops.io
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    pass


def read_settings(config):
    settings = {}
    for key in KEYS:
        value = os.environ.get(key)
        if value:
            settings[key] = value
    for key, value in (config or {}).items():
        if key in KEYS:
            if value:
                settings[key] = value
            # an empty value in config counts as unset
    return settings


def model_location(settings):
    if settings.get("MODEL_PATH"):
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    return urllib.parse.unquote(parts.path)


def load_model(location):
    if location is None:
        return None
    try:
        return skops.io.load(location)
    except Exception:  # noqa: BLE001
        log.exception("could not load the model from %s", location)
        return None


def _reject(name):
    raise InvalidInput(f"{name} is not a number")


def is_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def parse(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body should be an object with a "features" list')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    rows = [features] if not isinstance(features[0], list) else features
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or not all(is_number(v) for v in row):
            raise InvalidInput("every row should be exactly 4 finite numbers")
    return [[float(v) for v in row] for row in rows]


def request_body(limit: int = MiB) -> bytes:
    """The request body, refused (413) when over `limit` bytes.

    Flask checks a Content-Length against MAX_CONTENT_LENGTH before reading; a chunked body has
    none, and get_data() just stops at MAX_CONTENT_LENGTH (limit + 1), so count what came.
    """
    body = request.get_data()
    if len(body) > limit:
        raise RequestEntityTooLarge(f"the body is over {limit} bytes")
    return body


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = load_model(model_location(settings))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe(response):
        if request.path != "/metrics":
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(rule, str(response.status_code)).inc()
            latency.labels(rule).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify(error=str(error)), 400

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
            return jsonify(error="no model loaded"), 503
        rows = parse(request_body())
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
