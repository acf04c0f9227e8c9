"""Day 03 model server: Flask hooks, closures, a plain validation function."""

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
MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(ValueError):
    pass


def read_settings(config):
    settings = {k: os.environ.get(k) for k in KEYS}
    for key in KEYS:
        if config and config.get(key):
            settings[key] = config[key]
    return {k: v for k, v in settings.items() if v}


def model_location(settings):
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


def load_model(location):
    if location is None:
        return None
    try:
        return skops.io.load(location)
    except Exception:
        log.exception("could not load the model from %s", location)
        return None


def reject_constant(name):
    raise InvalidInput(f"{name} is not a number")


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse(body: bytes):
    try:
        data = json.loads(body, parse_constant=reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body should be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("features should be a non-empty list")
    rows = [features] if all(is_number(v) for v in features) else features
    checked = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or not all(is_number(v) for v in row):
            raise InvalidInput("every row should be exactly 4 numbers")
        try:
            floats = [float(v) for v in row]
        except OverflowError:
            raise InvalidInput("a number is too large") from None
        if not all(math.isfinite(v) for v in floats):
            raise InvalidInput("numbers should be finite")
        checked.append(floats)
    return checked


def read_body(stream) -> bytes:
    chunks, size = [], 0
    while size <= MiB:
        chunk = stream.read(MiB + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MiB:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings.get("MODEL_VERSION", "unversioned")
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
    def record(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify(error=str(error)), 400

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
            return jsonify(status="not ready", error="model not loaded"), 503
        return jsonify(status="ready")

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="no model loaded"), 503
        rows = parse(read_body(request.stream))
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
