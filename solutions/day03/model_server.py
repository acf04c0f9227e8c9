"""Day 03 reference answer: a Flask model server that keeps to the day-03 HTTP contract."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

N_FEATURES = 4
MAX_BODY_BYTES = 1024 * 1024
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")

log = logging.getLogger("model_server")


class InvalidInput(ValueError):
    """The request body is not a batch of 4-number rows; answered with 400."""


def model_location(settings: Mapping[str, str]) -> Path:
    if settings.get("MODEL_PATH"):
        return Path(settings["MODEL_PATH"])
    uri = settings.get("MODEL_URI")
    if not uri:
        raise ValueError("set MODEL_PATH or MODEL_URI to the model file")
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"only local model files are supported, not {uri!r}")
    return Path(unquote(parsed.path))


def load_model(path: Path):
    # skops builds only types on its trusted list and raises on anything else; a
    # pickle or joblib file would run whatever code it names while loading.
    import skops.io

    return skops.io.load(path)


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not a finite number")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"features must be numbers, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a feature is too large to be a finite number") from None
    if not math.isfinite(number):
        raise InvalidInput("features must be finite numbers")
    return number


def parse_features(body: bytes) -> list[list[float]]:
    """The rows of a /predict body; a single row is taken as a batch of one."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not valid JSON") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body must be a JSON object with a "features" list')
    rows = data["features"]
    if not isinstance(rows, list) or not rows:
        raise InvalidInput('"features" must be a non-empty list of rows')
    if not any(isinstance(row, list) for row in rows):
        rows = [rows]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"every row must be a list of {N_FEATURES} numbers")
        parsed.append([_number(value) for value in row])
    return parsed


def read_body(stream, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read to its end but never past `limit` + 1 bytes; a body over `limit` is a 413.

    A body sent in chunks has no Content-Length for Flask to check first, and a stream may hand
    it over in pieces: read until it ends or until one byte more than `limit` came.
    """
    pieces, size = [], 0
    while size <= limit and (piece := stream.read(limit + 1 - size)):
        pieces.append(piece)
        size += len(piece)
    if size > limit:
        raise RequestEntityTooLarge(f"the body is over {limit} bytes")
    return b"".join(pieces)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = {key: os.environ[key] for key in SETTINGS if os.environ.get(key)}
    settings.update(config or {})
    version = str(settings.get("MODEL_VERSION") or "unversioned")

    app = Flask(__name__)
    # Flask answers a Content-Length over this with 413 before reading anything; a body sent in chunks
    # has none, and its stream then ends one byte past the limit, so read_body can tell a body of
    # exactly 1 MiB from a longer one.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1
    state = {"model": None}
    try:
        state["model"] = load_model(model_location(settings))
    except Exception as exc:  # the process stays up and says it is not ready
        log.error("model not loaded: %s", exc)

    # One registry per app: create_app may run many times in one process (tests, reloads),
    # and the global default registry would refuse the second set of metrics.
    registry = CollectorRegistry()
    answered = Counter("model_requests", "Requests answered, by route and HTTP status.",
                       ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Time to answer a request, by route.",
                        ["endpoint"], registry=registry)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path != "/metrics":
            # The route pattern, never the raw path: a scanner hitting random URLs must
            # not create a new time series per URL.
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(InvalidInput)
    def invalid_input(exc: InvalidInput):
        return jsonify(error=str(exc)), 400

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if state["model"] is None:
            return jsonify(ready=False, error="model not loaded"), 503
        return jsonify(ready=True, model_version=version)

    @app.post("/predict")
    def predict():
        if state["model"] is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_features(read_body(request.stream))
        import numpy as np

        predictions = state["model"].predict(np.asarray(rows, dtype=float))
        return jsonify(predictions=predictions.tolist(), model_version=version)

    return app
