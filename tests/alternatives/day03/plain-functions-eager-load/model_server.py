"""Day 03 model server, style A: plain functions, Flask hooks for metrics, MAX_CONTENT_LENGTH."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
WIDTH = 4
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(Exception):
    """The request body is not a valid batch of rows."""


def _settings(config: Mapping[str, str] | None) -> dict[str, str]:
    merged = {key: os.environ[key] for key in SETTINGS if key in os.environ}
    merged.update({key: value for key, value in (config or {}).items() if key in SETTINGS})
    return merged


def _model_location(settings: dict[str, str]) -> str | None:
    if settings.get("MODEL_PATH"):
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if uri:
        try:
            parts = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        return unquote(parts.path) if parts.scheme == "file" and parts.netloc in ("", "localhost") else uri
    return None


def _load_model(location: str | None):
    if not location:
        log.warning("no MODEL_PATH or MODEL_URI: serving without a model")
        return None
    try:
        import skops.io

        return skops.io.load(location)
    except Exception:  # noqa: BLE001 - any failure means "not ready", never a crash
        log.exception("could not load the model from %s", location)
        return None


def _refuse_constant(name: str):
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


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or "features" not in payload:
        raise InvalidInput('the body should be an object {"features": [...]}')
    features = payload["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    if not any(isinstance(item, list) for item in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != WIDTH:
            raise InvalidInput(f"every row should be a list of {WIDTH} numbers")
        rows.append([_number(value) for value in row])
    return rows


def _read_body(stream, limit: int = MAX_BODY) -> bytes:
    """At most limit + 1 bytes of the body: a chunked one has no Content-Length to check first."""
    pieces, size = [], 0
    while size <= limit:
        piece = stream.read(limit + 1 - size)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    if size > limit:
        raise RequestEntityTooLarge(f"the body is over {limit} bytes")
    return b"".join(pieces)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = _load_model(_model_location(settings))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1  # the stream of a chunked body ends one byte past MAX_BODY

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency in seconds", ["endpoint"],
                        registry=registry)

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            started = g.get("started")
            if started is not None:
                latency.labels(endpoint).observe(time.perf_counter() - started)
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
            return jsonify(ready=False, error="model not loaded"), 503
        return jsonify(ready=True, model_version=version)

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_rows(_read_body(request.stream))
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    return app
