"""Day 03 model server: functional style (closures inside create_app, Flask hooks for metrics)."""

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
DEFAULT_VERSION = "unversioned"


class InvalidInput(ValueError):
    """The client's body is not a valid prediction request."""


def read_settings(config: Mapping[str, str] | None) -> dict[str, str]:
    settings = {}
    for key in KEYS:
        value = (config or {}).get(key)
        if not value:
            value = os.environ.get(key)
        if value:
            settings[key] = value
    return settings


def model_location(settings: Mapping[str, str]) -> str | None:
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def load_model(settings: Mapping[str, str]):
    import skops.io

    try:
        location = model_location(settings)
    except ValueError:  # a MODEL_URI urlsplit cannot parse names no model either
        log.exception("MODEL_URI is not a URI")
        return None
    if location is None:
        log.warning("no usable MODEL_PATH or MODEL_URI: the server is not ready")
        return None
    try:
        return skops.io.load(location)
    except Exception:  # noqa: BLE001 - any failure means "no model"
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
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large for a float") from None
    if not math.isfinite(number):
        raise InvalidInput("a number is not finite")
    return number


def parse(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except InvalidInput:
        raise
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
            raise InvalidInput("every row should hold exactly 4 numbers")
        parsed.append([_number(value) for value in row])
    return parsed


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings.get("MODEL_VERSION", DEFAULT_VERSION)
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
    def count(response):
        rule = request.url_rule
        if rule is not None and rule.rule == "/metrics":
            return response
        endpoint = rule.rule if rule is not None else "unmatched"
        answered.labels(endpoint, str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            latency.labels(endpoint).observe(time.perf_counter() - started)
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
        return jsonify(error=f"internal error: {type(error).__name__}"), 500

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
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
