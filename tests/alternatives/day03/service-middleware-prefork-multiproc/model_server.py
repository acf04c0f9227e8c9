"""Day-03 model server: a service object, background loading, WSGI-middleware metrics.

In a container with several gunicorn workers, PROMETHEUS_MULTIPROC_DIR makes the
counters shared files, and /metrics collects every worker's.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from urllib.parse import unquote, urlsplit

log = logging.getLogger("model_server")

LIMIT = 1 << 20
WIDTH = 4


class BadRequest(ValueError):
    pass


class TooLarge(Exception):
    pass


def _float_or_reject(text: str) -> float:
    value = float(text)  # float("1e400") and float("1000...0") are inf, never an error
    if not math.isfinite(value):
        raise BadRequest(f"{text[:20]}... is not a finite number")
    return value


def _constant(text: str):
    raise BadRequest(f"{text} is not allowed")


def decode(body: bytes) -> list[list[float]]:
    try:
        document = json.loads(body.decode("utf-8"), parse_float=_float_or_reject, parse_int=_float_or_reject,
                              parse_constant=_constant)
    except BadRequest:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest("body is not JSON") from None
    features = document.get("features") if isinstance(document, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequest('expected {"features": [[f, f, f, f], ...]}')
    batch = features if isinstance(features[0], list) else [features]
    for row in batch:
        if type(row) is not list or len(row) != WIDTH or any(type(v) is not float for v in row):
            raise BadRequest(f"each row must be exactly {WIDTH} finite numbers")
    return batch


def read_body(environ_stream, content_length: int | None) -> bytes:
    if content_length is not None and content_length > LIMIT:
        raise TooLarge()
    pieces, total = [], 0
    while total <= LIMIT:
        piece = environ_stream.read(LIMIT + 1 - total)
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    if total > LIMIT:
        raise TooLarge()
    return b"".join(pieces)


class Metrics:
    """WSGI middleware counting every answer but /metrics, by route pattern."""

    def __init__(self, flask_app: Flask):
        self.flask_app = flask_app
        self.inner = flask_app.wsgi_app
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Answered requests", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",),
                                 registry=self.registry)

    def route_of(self, environ) -> str:
        try:
            rule, _ = self.flask_app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (NotFound, MethodNotAllowed, HTTPException):
            return "unmatched"

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            shared = CollectorRegistry()
            multiprocess.MultiProcessCollector(shared)
            return generate_latest(shared)
        return generate_latest(self.registry)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        started = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.inner(environ, recording_start_response)
        endpoint = self.route_of(environ)
        self.requests.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
        self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return result


class ModelService:
    def __init__(self, settings: dict):
        self.version = settings.get("MODEL_VERSION") or "unknown"
        location = settings.get("MODEL_PATH") or settings.get("MODEL_URI") or ""
        if not settings.get("MODEL_PATH"):
            try:
                parts = urlsplit(location)
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                parts = urlsplit("")
            if parts.scheme == "file" and parts.netloc in ("", "localhost"):
                location = unquote(parts.path)
        self.location = location
        self.model = None
        self.loaded = threading.Event()
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self):
        try:
            from skops.io import load

            self.model = load(self.location)
        except Exception as error:  # noqa: BLE001
            log.error("model at %r not loaded: %s", self.location, error)
        finally:
            self.loaded.set()

    @property
    def ready(self) -> bool:
        return self.model is not None

    def predict(self, rows):
        import numpy

        return self.model.predict(numpy.array(rows)).tolist()


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = {}
    for key in ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION"):
        if config is not None and key in config:
            settings[key] = config[key]
        elif key in os.environ:
            settings[key] = os.environ[key]
    service = ModelService(settings)
    app = Flask("model_server")
    metrics = Metrics(app)
    app.wsgi_app = metrics

    def error(message: str, code: int):
        answer = jsonify({"error": message})
        answer.status_code = code
        return answer

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException):
        return error(exc.description or exc.name, exc.code or 500)

    @app.route("/health", methods=["GET"])
    def health():
        return jsonify({"status": "ok", "model_version": service.version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if not service.ready:
            return jsonify({"ready": False, "error": "model not loaded"}), 503
        return jsonify({"ready": True}), 200

    @app.route("/predict", methods=["POST"])
    def predict():
        if not service.ready:
            return error("model not loaded", 503)
        try:
            rows = decode(read_body(request.stream, request.content_length))
        except TooLarge:
            return error("body over 1 MiB", 413)
        except BadRequest as exc:
            return error(str(exc), 400)
        return jsonify({"predictions": service.predict(rows), "model_version": service.version})

    @app.route("/metrics", methods=["GET"])
    def scrape():
        return Response(metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    return app
