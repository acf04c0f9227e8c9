"""Model server, closure style: state lives in create_app's locals, the model loads in a
background thread, the body is read by hand (at most 1 MiB + 1 bytes), metrics via hooks."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

import numpy as np
from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
LIMIT = 1 << 20


class InvalidInput(ValueError):
    pass


def read_settings(config):
    given = dict(config or {})
    out = {}
    for name in ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION"):
        value = given.get(name) or os.getenv(name, "")
        if value != "":
            out[name] = value
    return out


def resolve(settings):
    path = settings.get("MODEL_PATH")
    if path is not None:
        return path
    uri = settings.get("MODEL_URI")
    if uri is None:
        return None
    try:
        parsed = urlparse(uri)
    except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
        return None
    return unquote(parsed.path) if parsed.scheme == "file" and parsed.netloc in ("", "localhost") else None


def read_body(limit=LIMIT):
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    stream = request.stream
    pieces, size = [], 0
    while size <= limit:
        piece = stream.read(limit + 1 - size)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(pieces)


def is_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse(body: bytes):
    def no_constants(name):
        raise InvalidInput(f"{name} is not allowed")

    try:
        data = json.loads(body.decode("utf-8"), parse_constant=no_constants)
    except InvalidInput:
        raise
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not valid JSON") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput("expected an object with a 'features' list")
    features = data["features"]
    if not isinstance(features, list) or len(features) == 0:
        raise InvalidInput("'features' must be a non-empty list")
    rows = [features] if not isinstance(features[0], list) else features
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput(f"row {number} must hold exactly 4 numbers")
        for value in row:
            if not is_number(value):
                raise InvalidInput(f"row {number} holds {value!r}, which is not a finite number")
    return [[float(v) for v in row] for row in rows]


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = read_settings(config)
    version = settings.get("MODEL_VERSION", "dev")
    location = resolve(settings)
    state = {"model": None}
    loaded = threading.Event()

    def load():
        if location is None:
            log.warning("no MODEL_PATH or file:// MODEL_URI set")
            return
        try:
            import skops.io

            state["model"] = skops.io.load(location)
            loaded.set()
        except Exception:
            log.exception("could not load the model from %s", location)

    threading.Thread(target=load, name="model-loader", daemon=True).start()

    registry = CollectorRegistry()
    requests_total = Counter("model_requests", "Requests answered", ("endpoint", "status"), registry=registry)
    latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",), registry=registry)

    app = Flask(__name__)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe(response):
        if request.path != "/metrics":
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def as_json(error):
        return jsonify({"error": f"{error.code} {error.name}: {error.description}"}), error.code

    @app.errorhandler(InvalidInput)
    def invalid(error):
        return jsonify({"error": str(error)}), 400

    @app.route("/health", methods=["GET"])
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if loaded.is_set():
            return jsonify({"ready": True})
        return jsonify({"ready": False, "error": "model not loaded"}), 503

    @app.route("/predict", methods=["POST"])
    def predict():
        if not loaded.is_set():
            return jsonify({"error": "the model is not loaded"}), 503
        rows = parse(read_body())
        with np.errstate(over="ignore", invalid="ignore"):
            labels = state["model"].predict(np.asarray(rows, dtype=np.float64))
        return jsonify({"predictions": labels.tolist(), "model_version": version})

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
