"""Day 03 model server, built as layers: a WSGI metrics middleware around a thin Flask app.

Validation walks the parsed JSON with a Decimal-based decoder and explicit checks; the
body is read by hand, at most 1 MiB + 1 bytes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import numpy as np
from flask import Flask, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from urllib.parse import unquote, urlsplit

LOG = logging.getLogger("model_server")
LIMIT = 1 << 20
WIDTH = 4
ROUTES = {"/health", "/ready", "/predict"}


class BadRequest(Exception):
    status = 400


class TooLarge(Exception):
    status = 413


def _constant(token):
    raise BadRequest(f"{token} is not allowed")


def _to_float(value) -> float:
    if type(value) is bool or not isinstance(value, (int, Decimal)):
        raise BadRequest(f"{value!r} is not a number")
    try:
        number = float(value)
    except (OverflowError, InvalidOperation, ValueError):
        raise BadRequest("a number is out of range") from None
    if number in (float("inf"), float("-inf")) or number != number:
        raise BadRequest("numbers must be finite")
    return number


def _decode(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_constant)
    except BadRequest:
        raise
    except (ValueError, RecursionError, InvalidOperation):
        raise BadRequest("the body is not JSON") from None


def features_matrix(raw: bytes) -> np.ndarray:
    payload = _decode(raw)
    if type(payload) is not dict:
        raise BadRequest("the body should be a JSON object")
    features = payload.get("features")
    if type(features) is not list or len(features) == 0:
        raise BadRequest('"features" should be a non-empty list')
    batch = features if type(features[0]) is list else [features]
    matrix = np.empty((len(batch), WIDTH), dtype=np.float64)
    for i, row in enumerate(batch):
        if type(row) is not list or len(row) != WIDTH:
            raise BadRequest(f"row {i} should hold exactly {WIDTH} numbers")
        for j, cell in enumerate(row):
            matrix[i, j] = _to_float(cell)
    return matrix


class Metrics:
    """WSGI middleware: counts and times every answered request except GET /metrics."""

    def __init__(self, inner):
        self.inner = inner
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.seconds = Histogram("model_request_latency_seconds", "Time to answer", ("endpoint",),
                                 registry=self.registry)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body = generate_latest(self.registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        began = time.perf_counter()
        status_seen = []

        def recording_start_response(status, headers, exc_info=None):
            status_seen.append(status.split()[0])
            return start_response(status, headers, exc_info)

        result = self.inner(environ, recording_start_response)
        endpoint = environ.get("model_server.endpoint", "unmatched")
        self.requests.labels(endpoint=endpoint, status=status_seen[-1] if status_seen else "500").inc()
        self.seconds.labels(endpoint=endpoint).observe(time.perf_counter() - began)
        return result


class Settings:
    def __init__(self, config: Mapping[str, str] | None):
        merged = dict(os.environ)
        merged.update(config or {})
        self.version = str(merged.get("MODEL_VERSION") or "dev")
        path = merged.get("MODEL_PATH")
        uri = merged.get("MODEL_URI")
        if path:
            self.model_path = path
        elif uri:
            try:
                parts = urlsplit(uri)
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                parts = urlsplit("")
            local = parts.scheme == "file" and parts.netloc in ("", "localhost")
            self.model_path = unquote(parts.path) if local else uri
        else:
            self.model_path = None


def load_model(path):
    if path is None:
        LOG.warning("no MODEL_PATH or MODEL_URI: serving without a model")
        return None
    from skops.io import load

    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        LOG.error("model %s not loaded: %s", path, exc)
        return None


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = Settings(config)
    state = {"model": load_model(settings.model_path)}
    app = Flask("model_server")

    def answer(payload, status=200):
        return app.response_class(json.dumps(payload), status=status, mimetype="application/json")

    @app.before_request
    def label_endpoint():
        rule = request.url_rule
        request.environ["model_server.endpoint"] = rule.rule if rule is not None else "unmatched"

    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(500)  # a model failing on valid rows: the server's failure, still answered in JSON
    def http_error(exc):
        return answer({"error": exc.name}, exc.code)

    @app.errorhandler(BadRequest)
    @app.errorhandler(TooLarge)
    def client_error(exc):
        return answer({"error": str(exc)}, exc.status)

    @app.route("/health", methods=["GET"])
    def health():
        return answer({"status": "ok", "model_version": settings.version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if state["model"] is None:
            return answer({"ready": False, "error": "model not loaded"}, 503)
        return answer({"ready": True})

    @app.route("/predict", methods=["POST"])
    def predict():
        model = state["model"]
        if model is None:
            return answer({"error": "the model is not loaded"}, 503)
        declared = request.content_length
        if declared is not None and declared > LIMIT:
            raise TooLarge("the body is over 1 MiB")
        raw = request.stream.read(LIMIT + 1)
        if len(raw) > LIMIT:
            raise TooLarge("the body is over 1 MiB")
        matrix = features_matrix(raw)
        labels = model.predict(matrix)
        return answer({"predictions": [x.item() if hasattr(x, "item") else x for x in labels],
                       "model_version": settings.version})

    app.wsgi_app = Metrics(app.wsgi_app)
    return app

