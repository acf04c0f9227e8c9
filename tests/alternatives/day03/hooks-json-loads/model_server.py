"""Day-03 model server: Flask hooks, json.loads with strict constants, eager load."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import skops.io
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

N_FEATURES = 4
MAX_BODY = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    pass


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
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('body must be a JSON object with "features"')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" must be a non-empty list')
    rows = features if isinstance(features[0], list) else [features]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"every row must be a list of {N_FEATURES} numbers")
        if not all(_is_number(v) for v in row):
            raise InvalidInput("features must be finite numbers")
        out.append([float(v) for v in row])
    return out


def _settings(config):
    settings = {k: os.environ[k] for k in KEYS if k in os.environ}
    settings.update(config or {})
    return settings


def _load(settings):
    path = settings.get("MODEL_PATH")
    if not path:
        uri = settings.get("MODEL_URI")
        if not uri:
            log.warning("neither MODEL_PATH nor MODEL_URI is set")
            return None
        try:
            parts = urlparse(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        path = url2pathname(parts.path) if parts.scheme == "file" and parts.netloc in ("", "localhost") else uri
    try:
        return skops.io.load(path)
    except Exception:
        log.exception("could not load model from %s", path)
        return None


def read_limited(stream, limit: int = MAX_BODY) -> bytes:
    """The whole body, read in pieces; one byte past `limit` is enough to answer 413."""
    data = bytearray()
    for chunk in iter(lambda: stream.read(limit + 1 - len(data)), b""):
        data += chunk
        if len(data) > limit:
            raise RequestEntityTooLarge(f"the body is over {limit} bytes")
    return bytes(data)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unknown"
    model = _load(settings)

    app = Flask(__name__)
    # Not MAX_BODY: a chunked body's stream ends at this limit, and read_limited needs the byte past it.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(InvalidInput)
    def invalid(exc):
        return jsonify(error=str(exc)), 400

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(ready=False, error="model not loaded"), 503
        return jsonify(ready=True)

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_features(read_limited(request.stream))
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
