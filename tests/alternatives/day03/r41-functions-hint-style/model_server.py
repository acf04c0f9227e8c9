"""Day-03 model server: functions, Flask hooks, a plain validation function."""

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

MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
log = logging.getLogger(__name__)


class InvalidInput(ValueError):
    pass


def read_settings(config: Mapping[str, str] | None) -> dict[str, str]:
    settings = {key: os.environ.get(key, "") for key in KEYS}
    for key in KEYS:
        value = (config or {}).get(key)
        if value not in (None, ""):
            settings[key] = value
    return settings


def model_location(settings: dict[str, str]) -> str | None:
    if settings["MODEL_PATH"]:
        return settings["MODEL_PATH"]
    uri = settings["MODEL_URI"]
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def load_model(settings: dict[str, str]):
    location = model_location(settings)
    if location is None:
        log.warning("no usable MODEL_PATH or MODEL_URI")
        return None
    try:
        import skops.io

        return skops.io.load(location)
    except Exception:  # missing, broken, untrusted: alive but not ready
        log.exception("could not load the model from %s", location)
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
        raise InvalidInput(f"{value!r:.40} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large for a float") from None
    if not math.isfinite(number):
        raise InvalidInput("a number is not finite")
    return number


def _row(row) -> list[float]:
    if not isinstance(row, list) or len(row) != 4:
        raise InvalidInput("every row should be a list of exactly 4 numbers")
    return [_number(value) for value in row]


def parse(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body should be an object with "features"')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    if isinstance(features[0], list):
        return [_row(row) for row in features]
    return [_row(features)]


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings["MODEL_VERSION"] or "unversioned"
    model = load_model(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency in seconds", ["endpoint"],
                        registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            started = g.get("started", time.perf_counter())
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(InvalidInput)
    def bad_input(error):
        return jsonify(error=str(error) or "bad input"), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(Exception)
    def server_error(error):
        log.exception("prediction failed")
        return jsonify(error=f"the server failed: {type(error).__name__}"), 500

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
