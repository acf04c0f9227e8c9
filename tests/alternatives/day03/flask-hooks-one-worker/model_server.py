"""Day 03 model server, written with Flask hooks and a plain validation function."""
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

MiB = 1024 * 1024
log = logging.getLogger("model_server")


class InvalidInput(ValueError):
    pass


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def parse_rows(body: bytes) -> list[list[float]]:
    if len(body) > MiB:
        raise RequestEntityTooLarge("the body is over 1 MiB")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body should be an object with a "features" list')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    rows = [features] if not isinstance(features[0], list) else features
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be a list of exactly 4 numbers")
        values = []
        for x in row:
            if not _is_number(x):
                raise InvalidInput(f"{x!r} is not a number")
            try:
                f = float(x)
            except OverflowError:
                raise InvalidInput("a number is too large for a float") from None
            if not math.isfinite(f):
                raise InvalidInput("numbers must be finite")
            values.append(f)
        out.append(values)
    return out


def _settings(config):
    names = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
    settings = {k: os.environ[k] for k in names if k in os.environ}
    settings.update({k: v for k, v in (config or {}).items() if k in names})
    return settings


def _load(settings):
    path = settings.get("MODEL_PATH")
    if not path:
        uri = settings.get("MODEL_URI") or ""
        try:
            parts = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        path = unquote(parts.path) if parts.scheme == "file" and parts.netloc in ("", "localhost") else uri
    if not path:
        return None
    try:
        import skops.io
        return skops.io.load(path)
    except Exception:
        log.exception("could not load the model from %s", path)
        return None


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = _settings(config)
    version = settings.get("MODEL_VERSION") or "unknown"
    model = _load(settings)

    app = Flask(__name__)
    # One byte of slack: a chunked body has no Content-Length for Flask to refuse, and its
    # stream stops at this limit; parse_rows refuses what went past 1 MiB.
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.path != "/metrics":
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(rule, str(response.status_code)).inc()
            latency.labels(rule).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(InvalidInput)
    def _bad(exc):
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
            return jsonify(status="not ready", error="model not loaded"), 503
        return jsonify(status="ready")

    @app.post("/predict")
    def predict():
        if model is None:
            return jsonify(error="no model loaded"), 503
        rows = parse_rows(request.get_data(cache=False))
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        return jsonify(predictions=predictions, model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    return app
