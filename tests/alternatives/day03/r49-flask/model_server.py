"""Day 03 model server (answer A: Flask hooks, plain functions)."""

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
    settings = {k: os.environ.get(k) or None for k in KEYS}
    for k in KEYS:
        if config and config.get(k):
            settings[k] = config[k]
    return settings


def model_location(settings):
    if settings["MODEL_PATH"]:
        return settings["MODEL_PATH"]
    uri = settings["MODEL_URI"]
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        return None
    return unquote(parts.path)


def load_model(settings):
    try:
        path = model_location(settings)
        if path is None:
            log.warning("no model configured")
            return None
        return skops.io.load(path)
    except Exception:
        log.exception("could not load the model")
        return None


def _reject_constant(name):
    raise InvalidInput(f"{name} is not JSON")


def read_body(stream):
    chunks, size = [], 0
    while size <= MiB:
        chunk = stream.read(MiB + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MiB:
        raise RequestEntityTooLarge("the body is over 1 MiB")
    return b"".join(chunks)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large") from None
    if not math.isfinite(number):
        raise InvalidInput("a number is not finite")
    return number


def parse(body: bytes):
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body should be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("features should be a non-empty list")
    if all(isinstance(item, list) for item in features):
        rows = features
    elif not any(isinstance(item, list) for item in features):
        rows = [features]
    else:
        raise InvalidInput("features mixes rows and numbers")
    parsed = []
    for row in rows:
        if len(row) != 4:
            raise InvalidInput("each row should hold exactly 4 numbers")
        parsed.append([_number(v) for v in row])
    return parsed


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings["MODEL_VERSION"] or "unversioned"
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
        response = jsonify(error=error.description or error.name)
        response.status_code = error.code or 500
        for key, value in error.get_headers():
            if key.lower() != "content-type":
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def server_error(error):
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
            return jsonify(error="the model is not loaded"), 503
        rows = parse(read_body(request.stream))
        try:
            predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        except Exception:
            log.exception("the model failed")
            return jsonify(error="the model failed on the rows"), 500
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
