"""Model server: closures over per-app state, Flask hooks for metrics."""

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
from flask import Flask, Response, abort, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    pass


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _settings(config):
    merged = {k: os.environ.get(k) for k in KEYS}
    for k in KEYS:
        if config is not None and k in config:
            merged[k] = config[k]
    return {k: (v if v else None) for k, v in merged.items()}


def _model_location(settings):
    if settings["MODEL_PATH"]:
        return settings["MODEL_PATH"]
    uri = settings["MODEL_URI"]
    if uri:
        try:
            parts = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            return unquote(parts.path)
    return None


def _load(location):
    if location is None:
        log.warning("no model location configured")
        return None
    try:
        return skops.io.load(location)
    except Exception:
        log.exception("could not load model from %s", location)
        return None


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        as_float = float(value)
    except OverflowError:
        raise InvalidInput("number too large") from None
    if not math.isfinite(as_float):
        raise InvalidInput("number is not finite")
    return as_float


def parse_rows(body: bytes):
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not JSON: {error}") from None
    if not isinstance(doc, dict) or "features" not in doc:
        raise InvalidInput('expected an object with "features"')
    features = doc["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" must be a non-empty list')
    if all(not isinstance(item, list) for item in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row must be a list of exactly 4 numbers")
        rows.append([_number(v) for v in row])
    return rows


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings["MODEL_VERSION"] or "unversioned"
    model = _load(_model_location(settings))

    app = Flask(__name__)
    # Flask refuses a Content-Length over this; a body sent in chunks has none and its stream
    # just ends here, one byte past 1 MiB, so _refuse_large_body can see it went on.
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.before_request
    def _refuse_large_body():
        if request.method == "POST" and len(request.get_data()) > MiB:
            abort(413, "the body is over 1 MiB")

    @app.after_request
    def _observe(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def _invalid(error):
        return jsonify(error=str(error)), 400

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready", error="model not loaded"), 503
        return jsonify(status="ready")

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_rows(request.get_data())
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
