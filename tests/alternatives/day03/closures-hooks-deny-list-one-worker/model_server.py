"""Model server, functional style: closures, Flask hooks, json.loads with hooks."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import numpy as np
import skops.io
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
MiB = 1024 * 1024


class InvalidInput(ValueError):
    pass


def read_settings(config):
    settings = {}
    for key in KEYS:
        value = (config or {}).get(key) or os.environ.get(key) or None
        settings[key] = value
    return settings


def model_location(settings):
    if settings["MODEL_PATH"]:
        return settings["MODEL_PATH"]
    uri = settings["MODEL_URI"]
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise ValueError(f"cannot open MODEL_URI {uri!r}: only file:// is supported")
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"cannot open MODEL_URI {uri!r}: it names another host")
    return unquote(parts.path)


def load_model(settings):
    try:
        path = model_location(settings)
        if path is None:
            log.warning("neither MODEL_PATH nor MODEL_URI is set")
            return None
        return skops.io.load(path)
    except Exception:
        log.exception("could not load the model")
        return None


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _is_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def parse_rows(body: bytes):
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict) or "features" not in payload:
        raise InvalidInput('the body should be an object with a "features" list')
    features = payload["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    rows = features if isinstance(features[0], list) else [features]
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or not all(_is_number(v) for v in row):
            raise InvalidInput("every row should be exactly 4 finite numbers")
    return [[float(v) for v in row] for row in rows]


def read_body(stream, limit=MiB):
    """Read until the stream ends, but never more than limit + 1 bytes: more than limit is a 413."""
    body = bytearray()
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    raise RequestEntityTooLarge(f"the body is over {limit} bytes")


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings["MODEL_VERSION"] or "unversioned"
    model = load_model(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # so read_body sees the byte past the limit of a chunked body

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        rule = request.url_rule
        if rule is not None and rule.rule == "/metrics":
            return response
        endpoint = rule.rule if rule is not None else "unmatched"
        answered.labels(endpoint, str(response.status_code)).inc()
        latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
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
            return jsonify(status="not ready", error="no model loaded"), 503
        return jsonify(status="ready", model_version=version)

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="no model loaded"), 503
        rows = parse_rows(read_body(request.stream))
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
