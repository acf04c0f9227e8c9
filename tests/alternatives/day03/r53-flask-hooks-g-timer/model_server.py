"""Day-03 model server (style A: Flask hooks, plain validation functions)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, g, jsonify, request
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
    for key in KEYS:
        if config and config.get(key):
            settings[key] = config[key]
    return settings


def model_file(settings):
    if settings.get("MODEL_PATH"):
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        raise FileNotFoundError("neither MODEL_PATH nor MODEL_URI is set")
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file":
        raise ValueError(f"MODEL_URI scheme {parts.scheme!r} is not file")
    if parts.netloc not in ("", "localhost"):
        raise ValueError("MODEL_URI names another host")
    return unquote(parts.path)


def load_model(settings):
    import skops.io

    try:
        return skops.io.load(model_file(settings))
    except Exception:
        log.exception("model could not be loaded")
        return None


def _reject_constant(name):
    raise InvalidInput(f"{name} is not JSON")


def read_body(stream):
    chunks, got = [], 0
    while got <= MiB:
        chunk = stream.read(MiB + 1 - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got > MiB:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        as_float = float(value)
    except OverflowError:
        raise InvalidInput("number too large") from None
    if not math.isfinite(as_float):
        raise InvalidInput("number is not finite")
    return as_float


def parse(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("features must be a non-empty list")
    if all(not isinstance(item, list) for item in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row must be a list of exactly 4 numbers")
        rows.append([number(v) for v in row])
    return rows


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    import numpy as np
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

    settings = read_settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = load_model(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

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
    def bad_input(error):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(Exception)
    def server_error(error):
        log.exception("request failed")
        return jsonify(error="internal server error"), 500

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready", error="no model loaded"), 503
        return jsonify(status="ready")

    @app.post("/predict")
    def predict():
        body = read_body(request.stream)
        if model is None:
            return jsonify(error="no model loaded"), 503
        rows = parse(body)
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
