"""Day-03 model server: Flask hooks, eager model load, one registry per app."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
N_FEATURES = 4
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class InvalidInput(Exception):
    """The request body is not a valid /predict request."""


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not a finite number")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large") from None
    if not math.isfinite(number):
        raise InvalidInput("numbers must be finite")
    return number


def parse_rows(body: bytes) -> list[list[float]]:
    import json

    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict) or "features" not in payload:
        raise InvalidInput('the body should be an object with a "features" list')
    features = payload["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    rows = features if any(isinstance(item, list) for item in features) else [features]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"every row should be a list of {N_FEATURES} numbers")
        parsed.append([_number(v) for v in row])
    return parsed


def _settings(config: Mapping[str, str] | None) -> dict[str, str]:
    merged = {name: os.environ[name] for name in SETTINGS if name in os.environ}
    merged.update(config or {})
    return merged


def _load_model(settings: Mapping[str, str]):
    path = settings.get("MODEL_PATH")
    if not path:
        try:
            uri = urlsplit(settings.get("MODEL_URI") or "")
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        path = unquote(uri.path) if uri.scheme == "file" and uri.netloc in ("", "localhost") else uri.geturl()
    if not path:
        log.warning("neither MODEL_PATH nor MODEL_URI is set: no model")
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 — any failure leaves the server alive but not ready
        log.exception("could not load the model from %s", path)
        return None


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = _load_model(settings)

    app = Flask(__name__)
    # A chunked body has no Content-Length: Flask then only stops reading at this limit, so it is one
    # byte over MAX_BODY and predict refuses a body that filled it.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1

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
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify(error=str(error)), 400

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
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY:
            return jsonify(error=f"the body is over {MAX_BODY} bytes"), 413
        rows = parse_rows(body)
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
