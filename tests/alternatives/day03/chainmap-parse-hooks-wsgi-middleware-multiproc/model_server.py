"""Model server: a ModelService object loaded in the background, a WSGI middleware for metrics,
manual body reading and a number-checking JSON decoder."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import ChainMap
from collections.abc import Mapping

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from urllib.parse import unquote, urlsplit

log = logging.getLogger("model_server")
LIMIT = 1 << 20
WIDTH = 4


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


# --- body parsing -------------------------------------------------------------------------

def _finite_float(text: str) -> float:
    number = float(text)  # float("1e400") and float("1" + "0" * 5000) are inf, never an error
    if not math.isfinite(number):
        raise BadRequest(f"{text[:20]} is not a finite number")
    return number


def _no_constant(name: str):
    raise BadRequest(f"{name} is not a number this server takes")


def decode(body: bytes):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_float=_finite_float, parse_int=_finite_float, parse_constant=_no_constant)
    except BadRequest:
        raise
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None


def _number(value) -> bool:
    return type(value) is float  # every JSON number was parsed into a finite float; bools are not floats


def rows_of(document) -> list[list[float]]:
    if not isinstance(document, dict):
        raise BadRequest("send a JSON object")
    features = document.get("features")
    if not isinstance(features, list) or len(features) == 0:
        raise BadRequest('"features" should be a non-empty list')
    if all(isinstance(item, list) for item in features):
        batch = features
    elif not any(isinstance(item, list) for item in features):
        batch = [features]
    else:
        raise BadRequest("mixing rows and numbers")
    for index, row in enumerate(batch):
        if len(row) != WIDTH or not all(map(_number, row)):
            raise BadRequest(f"row {index} should be exactly {WIDTH} finite numbers")
    return batch


def read_body(environ) -> bytes:
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip().isdigit() and int(length) > LIMIT:
        raise BadRequest("the body is over 1 MiB", 413)
    stream = request.stream
    chunks, size = [], 0
    while size <= LIMIT:
        chunk = stream.read(LIMIT + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > LIMIT:
        raise BadRequest("the body is over 1 MiB", 413)
    return b"".join(chunks)


# --- the model ----------------------------------------------------------------------------

class ModelService:
    def __init__(self, settings: Mapping[str, str]):
        self.version = settings.get("MODEL_VERSION") or "dev"
        self.location = settings.get("MODEL_PATH") or _path_of_uri(settings.get("MODEL_URI"))
        self.model = None
        self.loaded = threading.Event()
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self):
        try:
            if not self.location:
                raise FileNotFoundError("neither MODEL_PATH nor MODEL_URI is set")
            from skops.io import load

            self.model = load(self.location)
        except Exception as error:  # noqa: BLE001 - a broken model leaves the server unready
            log.warning("model not loaded from %r: %s", self.location, error)
        finally:
            self.loaded.set()

    @property
    def ready(self) -> bool:
        return self.model is not None

    def predict(self, rows):
        import numpy

        return self.model.predict(numpy.array(rows, dtype=numpy.float64)).tolist()


def _path_of_uri(uri):
    if uri:
        try:
            scheme, host, path, _query, _fragment = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        if scheme == "file" and host in ("", "localhost"):
            return unquote(path)
    return uri


# --- metrics ------------------------------------------------------------------------------

class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds to answer", ("endpoint",),
                                 registry=self.registry)

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=folder)
            return generate_latest(merged)
        return generate_latest(self.registry)


class Measured:
    """WSGI middleware: times each call with its own locals and counts it by route pattern."""

    def __init__(self, app: Flask, inner, metrics: Metrics):
        self.app, self.inner, self.metrics = app, inner, metrics

    def _route(self, environ) -> str:
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (NotFound, MethodNotAllowed):
            return "unmatched"
        except HTTPException:
            return "unmatched"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.inner(environ, start_response)
        began = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        body = self.inner(environ, recording_start_response)
        route = self._route(environ)
        self.metrics.requests.labels(endpoint=route, status=seen.get("status", "500")).inc()
        self.metrics.latency.labels(endpoint=route).observe(time.perf_counter() - began)
        return body


# --- the app ------------------------------------------------------------------------------

def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = ChainMap(dict(config or {}), os.environ)
    service = ModelService(settings)
    metrics = Metrics()
    app = Flask("model_server")

    @app.errorhandler(BadRequest)
    def refused(error: BadRequest):
        return _json({"error": str(error)}, error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _json({"error": error.description or error.name}, error.code or 500)

    @app.route("/health", methods=["GET"])
    def health():
        return _json({"status": "ok", "model_version": service.version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if service.ready:
            return _json({"ready": True})
        return _json({"ready": False, "error": "model not loaded"}, 503)

    @app.route("/predict", methods=["POST"])
    def predict():
        if not service.ready:
            return _json({"error": "model not loaded"}, 503)
        rows = rows_of(decode(read_body(request.environ)))
        return _json({"predictions": service.predict(rows), "model_version": service.version})

    @app.route("/metrics", methods=["GET"])
    def scrape():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.wsgi_app = Measured(app, app.wsgi_app, metrics)
    return app
