"""Day 03 model server (answer B: a service object, validation as data, metrics as WSGI middleware)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import ChainMap
from collections.abc import Mapping
from numbers import Real
from urllib.parse import unquote, urlparse

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from skops.io import load as skops_load
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

LIMIT = 1 << 20
logger = logging.getLogger("model_server")


class BadRequestBody(Exception):
    """The client sent something the contract refuses (400)."""


def settings_from(config):
    given = {k: v for k, v in (config or {}).items() if v not in (None, "")}
    env = {k: v for k, v in os.environ.items() if v != ""}
    merged = ChainMap(given, env)
    return {name: merged.get(name) for name in ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")}


def resolve(settings):
    path = settings["MODEL_PATH"]
    if path:
        return path
    uri = settings["MODEL_URI"]
    if not uri:
        raise FileNotFoundError("neither MODEL_PATH nor MODEL_URI is set")
    parsed = urlparse(uri)
    if parsed.scheme.lower() != "file":
        raise FileNotFoundError(f"unsupported scheme in MODEL_URI: {parsed.scheme!r}")
    if parsed.netloc not in ("", "localhost"):
        raise FileNotFoundError(f"MODEL_URI names another host: {parsed.netloc!r}")
    return unquote(parsed.path)


def _no_constants(token):
    raise BadRequestBody(f"{token} is not valid JSON")


def is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def to_finite(value) -> float:
    try:
        as_float = float(value)
    except OverflowError:
        raise BadRequestBody("a number does not fit in a float") from None
    if math.isinf(as_float) or math.isnan(as_float):
        raise BadRequestBody("numbers must be finite")
    return as_float


def rows_from(payload) -> np.ndarray:
    if type(payload) is not dict:
        raise BadRequestBody("expected a JSON object")
    features = payload.get("features")
    if type(features) is not list or len(features) == 0:
        raise BadRequestBody("'features' must be a non-empty list")
    kinds = {type(item) is list for item in features}
    if kinds == {True}:
        rows = features
    elif kinds == {False}:
        rows = [features]
    else:
        raise BadRequestBody("'features' mixes rows and numbers")
    matrix = np.empty((len(rows), 4), dtype=float)
    for i, row in enumerate(rows):
        if len(row) != 4 or not all(is_number(v) for v in row):
            raise BadRequestBody(f"row {i} must be exactly 4 numbers")
        matrix[i] = [to_finite(v) for v in row]
    return matrix


class ModelService:
    def __init__(self, settings):
        self.version = settings["MODEL_VERSION"] or "dev"
        self.model = None
        try:
            self.model = skops_load(resolve(settings))
        except Exception as error:  # missing, broken, untrusted: alive but not ready
            logger.error("model not loaded: %s", error)

    @property
    def ready(self) -> bool:
        return self.model is not None

    @staticmethod
    def body() -> bytes:
        stream = request.stream
        data = bytearray()
        while len(data) <= LIMIT:
            part = stream.read(min(65536, LIMIT + 1 - len(data)))
            if not part:
                break
            data += part
        if len(data) > LIMIT:
            raise RequestEntityTooLarge()
        return bytes(data)

    def predict(self, raw: bytes):
        try:
            payload = json.loads(raw.decode("utf-8", errors="strict"), parse_constant=_no_constants)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError) as error:
            if isinstance(error, BadRequestBody):
                raise
            raise BadRequestBody("the body is not valid JSON") from None
        matrix = rows_from(payload)
        return self.model.predict(matrix).tolist()


class Metrics:
    """WSGI middleware: times and counts every answered request but /metrics."""

    def __init__(self, flask_app: Flask):
        self.app = flask_app
        self.inner = flask_app.wsgi_app
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds to answer", ("endpoint",),
                                 registry=self.registry)

    def endpoint(self, environ) -> str:
        adapter = self.app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except (NotFound, MethodNotAllowed, HTTPException):
            return "unmatched"
        return rule.rule

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        started = time.perf_counter()
        status = {}

        def recording_start_response(code, headers, exc_info=None):
            status["code"] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        try:
            result = self.inner(environ, recording_start_response)
        finally:
            endpoint = self.endpoint(environ)
            self.requests.labels(endpoint, status.get("code", "500")).inc()
            self.latency.labels(endpoint).observe(time.perf_counter() - started)
        return result

    def scrape(self):
        return Response(generate_latest(self.registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    service = ModelService(settings_from(config))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
    metrics = Metrics(app)
    app.wsgi_app = metrics

    def error(message: str, code: int):
        return jsonify({"error": message}), code

    app.register_error_handler(BadRequestBody, lambda e: error(str(e), 400))
    app.register_error_handler(HTTPException, lambda e: (error(e.description or e.name, e.code)[0], e.code,
                                                         {k: v for k, v in e.get_headers() if k == "Allow"}))

    @app.route("/health", methods=["GET"])
    def health():
        return {"status": "ok", "model_version": service.version}

    @app.route("/ready", methods=["GET"])
    def ready():
        if not service.ready:
            return {"ready": False, "model_version": service.version, "error": "model not loaded"}, 503
        return {"ready": True, "model_version": service.version}, 200

    @app.route("/predict", methods=["POST"])
    def predict():
        if not service.ready:
            return error("no model is loaded", 503)
        raw = service.body()
        try:
            predictions = service.predict(raw)
        except BadRequestBody:
            raise
        except Exception:
            logger.exception("prediction failed")
            return error("the model could not predict these rows", 500)
        return {"predictions": predictions, "model_version": service.version}

    @app.route("/metrics", methods=["GET"])
    def scrape():
        return metrics.scrape()

    return app
