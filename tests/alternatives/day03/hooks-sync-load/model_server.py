"""Model server, style A: hooks, plain validation functions, synchronous loading."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping

import numpy as np
from flask import Flask, Response, abort, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)
MiB = 1024 * 1024
KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
N_FEATURES = 4


class InvalidInput(ValueError):
    pass


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('body must be an object with a "features" list')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" must be a non-empty list')
    rows = features if isinstance(features[0], list) else [features]
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"row {index} must be a list of {N_FEATURES} numbers")
        if not all(_is_number(v) for v in row):
            raise InvalidInput(f"row {index} must hold only finite numbers")
    return [[float(v) for v in row] for row in rows]


def _settings(config):
    settings = {k: os.environ[k] for k in KEYS if os.environ.get(k) is not None}
    settings.update({k: v for k, v in (config or {}).items() if v is not None})
    return settings


def _load(settings):
    import skops.io

    path = settings.get("MODEL_PATH")
    if not path:
        try:
            uri = urlsplit(settings.get("MODEL_URI") or "")
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        path = unquote(uri.path) if uri.scheme == "file" and uri.netloc in ("", "localhost") else None
    if not path:
        log.warning("no MODEL_PATH or MODEL_URI set")
        return None
    try:
        return skops.io.load(path)  # skops' default trusted types only
    except Exception:
        log.exception("could not load the model from %s", path)
        return None


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unversioned"
    model = _load(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # chunked bodies stop here; _body_size refuses past MiB

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.before_request
    def _body_size():
        if request.endpoint == "predict" and len(request.get_data()) > MiB:
            abort(413, f"the body is over {MiB} bytes")

    @app.after_request
    def _count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(InvalidInput)
    def _invalid(exc):
        return jsonify(error=str(exc)), 400

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
        rows = parse_rows(request.get_data())
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
