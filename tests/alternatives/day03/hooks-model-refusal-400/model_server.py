"""Day 03 model server: Flask app factory, before/after_request hooks for metrics."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping

import numpy as np
import skops.io
from flask import Flask, Response, abort, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
N_FEATURES = 4
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


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('expected a JSON object with "features"')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    if not any(isinstance(item, list) for item in features):
        features = [features]
    rows = []
    for index, row in enumerate(features):
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"row {index} should be a list of {N_FEATURES} numbers")
        if not all(_is_number(v) for v in row):
            raise InvalidInput(f"row {index} holds something that is not a finite number")
        rows.append([float(v) for v in row])
    return rows


def _settings(config):
    merged = {key: os.environ[key] for key in KEYS if os.environ.get(key)}
    merged.update({k: v for k, v in (config or {}).items() if k in KEYS and v})
    return merged


def _load(settings):
    path = settings.get("MODEL_PATH")
    if not path and settings.get("MODEL_URI"):
        try:
            uri = urlsplit(settings["MODEL_URI"])
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        if uri.scheme == "file" and uri.netloc in ("", "localhost"):
            path = unquote(uri.path)
        else:
            path = settings["MODEL_URI"]
    if not path:
        log.warning("neither MODEL_PATH nor MODEL_URI is set: no model")
        return None
    try:
        return skops.io.load(path)
    except Exception:
        log.exception("could not load the model from %s", path)
        return None


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unknown"
    model = _load(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1  # a chunked body stops here: one byte more than allowed

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(InvalidInput)
    def _invalid(exc):
        return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def _http(exc):
        return jsonify(error=exc.description or exc.name), exc.code

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
            return jsonify(error="no model loaded"), 503
        body = request.get_data()
        if len(body) > MAX_BODY:
            abort(413, description=f"the body is over {MAX_BODY} bytes")
        rows = parse_rows(body)
        # Finite rows the model still fails on (its scaling overflowing) are the server's failure: a JSON 500.
        predictions = model.predict(np.asarray(rows, dtype=np.float64)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
