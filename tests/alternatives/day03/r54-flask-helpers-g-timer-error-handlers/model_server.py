"""Day 03 model server (style A: Flask error handlers + hooks)."""

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


def _settings(config):
    merged = {k: os.environ.get(k) for k in KEYS}
    for key in KEYS:
        value = (config or {}).get(key)
        if value:
            merged[key] = value
    return {k: v for k, v in merged.items() if v}


def _model_file(settings):
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if uri is None:
        raise FileNotFoundError("neither MODEL_PATH nor MODEL_URI is set")
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file":
        raise ValueError(f"unsupported MODEL_URI scheme: {parts.scheme!r}")
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"MODEL_URI names another host: {parts.netloc!r}")
    return unquote(parts.path)


def _reject_constant(name):
    raise InvalidInput(f"{name} is not JSON")


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


def _row(row):
    if not isinstance(row, list) or len(row) != 4:
        raise InvalidInput("every row must be a list of exactly 4 numbers")
    return [_number(v) for v in row]


def parse(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' must be a non-empty list")
    if all(isinstance(r, list) for r in features):
        rows = features
    elif not any(isinstance(r, list) for r in features):
        rows = [features]
    else:
        raise InvalidInput("'features' mixes rows and numbers")
    return [_row(r) for r in rows]


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


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION", "unversioned")
    model, problem = None, None
    try:
        model = skops.io.load(_model_file(settings))
    except Exception as error:  # noqa: BLE001 - any failure means "no model"
        problem = f"model not loaded: {error}"
        log.warning(problem)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    requests_total = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            requests_total.labels(endpoint, str(response.status_code)).inc()
            started = g.get("started")
            if started is not None:
                latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(InvalidInput)
    def _invalid(error):
        return jsonify(error=str(error) or "invalid input"), 400

    @app.errorhandler(HTTPException)
    def _http(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(Exception)
    def _crash(error):
        log.exception("server error")
        return jsonify(error=f"server error: {type(error).__name__}"), 500

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(error=problem), 503
        return jsonify(status="ready", model_version=version)

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error=problem), 503
        rows = parse(read_body(request.stream))
        try:
            predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        except Exception as error:  # noqa: BLE001
            log.exception("model failed")
            return jsonify(error=f"the model failed: {type(error).__name__}"), 500
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app
