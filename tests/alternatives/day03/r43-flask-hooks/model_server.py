"""Day-03 model server: functions + Flask hooks style."""

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


def read_settings(config):
    settings = {}
    for key in KEYS:
        value = os.environ.get(key) or None
        settings[key] = value
    for key in KEYS:
        if config and config.get(key):
            settings[key] = config[key]
    return settings


def model_location(settings):
    if settings["MODEL_PATH"]:
        return settings["MODEL_PATH"]
    uri = settings["MODEL_URI"]
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parts.scheme.lower() != "file":
        return None
    if parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def load_model(location):
    if not location:
        log.warning("no MODEL_PATH or MODEL_URI: the server is not ready")
        return None
    try:
        import skops.io

        return skops.io.load(location)
    except Exception:  # noqa: BLE001
        log.exception("could not load the model from %s", location)
        return None


def read_body(stream):
    chunks, total = [], 0
    while total <= MiB:
        chunk = stream.read(MiB + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MiB:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def parse_rows(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body should be a JSON object with a "features" list')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    rows = features if all(isinstance(item, list) for item in features) else [features]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be exactly 4 numbers")
        values = []
        for item in row:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise InvalidInput(f"{item!r} is not a number")
            try:
                number = float(item)
            except OverflowError:
                raise InvalidInput("a number is too large for a float") from None
            if not math.isfinite(number):
                raise InvalidInput("a number is not finite")
            values.append(number)
        out.append(values)
    return out


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings["MODEL_VERSION"] or "unversioned"
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
    def count(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(Exception)
    def server_error(error):
        log.exception("server error")
        return jsonify(error=f"server error: {type(error).__name__}"), 500

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
        if model is None:
            return jsonify(error="no model loaded"), 503
        rows = parse_rows(read_body(request.stream))
        predictions = model.predict(np.asarray(rows, dtype=np.float64)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
