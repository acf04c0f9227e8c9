"""Day 03 model server (style A: hooks + error handlers, strict UTF-8 decode)."""

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

MAX_BODY = 1024 * 1024
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
DEFAULT_VERSION = "unknown"


class InvalidInput(Exception):
    pass


def _settings(config: Mapping[str, str] | None) -> dict[str, str]:
    merged = {name: os.environ.get(name, "") for name in SETTINGS}
    for name in SETTINGS:
        value = (config or {}).get(name)
        if value:
            merged[name] = value
    return {name: value for name, value in merged.items() if value}


def _model_file(settings: dict[str, str]) -> str | None:
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    uri = settings.get("MODEL_URI")
    if uri is None:
        return None
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        return None
    return unquote(parts.path)


def _load(settings):
    try:
        path = _model_file(settings)
        if path is None:
            return None
        import skops.io

        return skops.io.load(path)
    except Exception:  # missing, broken, untrusted: not ready
        log.exception("could not load the model")
        return None


def _reject_constant(name):
    raise InvalidInput(f"{name} is not JSON")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("number too large") from None
    if not math.isfinite(number):
        raise InvalidInput("number is not finite")
    return number


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("features must be a non-empty list")
    if all(isinstance(item, list) for item in features):
        rows = features
    elif not any(isinstance(item, list) for item in features):
        rows = [features]
    else:
        raise InvalidInput("features mixes rows and numbers")
    out = []
    for row in rows:
        if len(row) != 4:
            raise InvalidInput("each row must hold exactly 4 numbers")
        out.append([_number(v) for v in row])
    return out


def _read_body() -> bytes:
    chunks, size = [], 0
    stream = request.stream
    while size <= MAX_BODY:
        chunk = stream.read(MAX_BODY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION", DEFAULT_VERSION)
    model = _load(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            started = g.get("started")
            if started is not None:
                latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(InvalidInput)
    def _invalid(error):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def _http(error):
        return jsonify(error=error.description or error.name), error.code

    @app.errorhandler(Exception)
    def _crash(error):
        log.exception("server error")
        return jsonify(error="internal server error"), 500

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
        rows = parse_rows(_read_body())
        try:
            predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        except Exception:
            log.exception("model failed")
            return jsonify(error="the model failed on these rows"), 500
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
