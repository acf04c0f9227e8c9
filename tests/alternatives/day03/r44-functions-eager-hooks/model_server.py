"""Day 03 model server: plain functions, Flask hooks, eager load in create_app."""

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

MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
log = logging.getLogger(__name__)


class InvalidInput(ValueError):
    pass


def read_settings(config: Mapping[str, str] | None) -> dict[str, str]:
    settings = {}
    for key in KEYS:
        value = os.environ.get(key)
        if value:
            settings[key] = value
    for key in KEYS:
        value = (config or {}).get(key)
        if value:
            settings[key] = value
    return settings


def model_location(settings: dict[str, str]) -> str | None:
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        return None
    return unquote(parts.path)


def load_model(location: str | None):
    if location is None:
        return None
    try:
        return skops.io.load(location)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.exception("could not load the model from %r", location)
        return None


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


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large") from None
    if not math.isfinite(number):
        raise InvalidInput("a number is not finite")
    return number


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidInput("the body should be a JSON object")
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("features should be a non-empty list")
    rows = features if isinstance(features[0], list) else [features]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be exactly 4 numbers")
        parsed.append([_number(value) for value in row])
    return parsed


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
    def observe(response):
        if request.path != "/metrics" or request.url_rule is None:
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def invalid(error: InvalidInput):
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
        rows = parse_rows(read_body(request.stream))
        try:
            predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        except Exception as error:  # noqa: BLE001 - the model's failure is the server's
            log.exception("the model failed")
            return jsonify(error=f"the model failed: {type(error).__name__}"), 500
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
