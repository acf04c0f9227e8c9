"""Day 03 model server: plain functions, Flask before/after_request hooks for metrics."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import numpy as np
from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

MiB = 1024 * 1024
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
DEFAULT_VERSION = "unknown"


class InvalidInput(ValueError):
    """The client sent something that is not a valid request."""


def read_settings(config: Mapping[str, str] | None) -> dict[str, str]:
    settings = {name: os.environ[name] for name in SETTINGS if os.environ.get(name)}
    for name in SETTINGS:
        if config and config.get(name):
            settings[name] = config[name]
    return settings


def model_location(settings: Mapping[str, str]) -> str | None:
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    parts = urlsplit(uri)  # may raise ValueError
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        raise ValueError(f"MODEL_URI {uri!r} is not a local file:// URI")
    return unquote(parts.path)


def load_model(settings: Mapping[str, str]):
    try:
        location = model_location(settings)
        if location is None:
            log.warning("neither MODEL_PATH nor MODEL_URI is set: no model")
            return None
        import skops.io

        return skops.io.load(location)
    except Exception:
        log.exception("could not load the model")
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
        raise RequestEntityTooLarge("the body is over 1 MiB")
    return b"".join(chunks)


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large for a float") from None
    if not math.isfinite(number):
        raise InvalidInput("numbers must be finite")
    return number


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body should be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    if not any(isinstance(item, list) for item in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be a list of exactly 4 numbers")
        rows.append([_number(value) for value in row])
    return rows


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings.get("MODEL_VERSION", DEFAULT_VERSION)
    model = load_model(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests.", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency in seconds.", ["endpoint"],
                        registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        rule = request.url_rule.rule if request.url_rule is not None else None
        if rule == "/metrics":
            return response
        endpoint = rule or "unmatched"
        answered.labels(endpoint, str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def invalid_input(error):
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
        try:
            predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        except Exception:
            log.exception("the model failed on valid rows")
            return jsonify(error="the model failed on these rows"), 500
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
