"""Model server, object style: a ModelServer class, background loading, a WSGI metrics middleware."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import traceback
from collections import ChainMap
from collections.abc import Mapping
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import skops.io
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

LIMIT = 1 << 20
WIDTH = 4
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")


class BadRequestBody(Exception):
    """The /predict body is not a valid batch."""


def merged_settings(config: Mapping[str, str] | None) -> ChainMap:
    given = {k: v for k, v in dict(config or {}).items() if k in SETTINGS and v}
    environment = {k: os.environ[k] for k in SETTINGS if os.environ.get(k)}
    return ChainMap(given, environment)


def resolve_model_file(settings: Mapping[str, str]) -> str:
    if "MODEL_PATH" in settings:
        return settings["MODEL_PATH"]
    if "MODEL_URI" not in settings:
        raise LookupError("no MODEL_PATH or MODEL_URI given")
    parsed = urlparse(settings["MODEL_URI"])
    if parsed.scheme.lower() != "file" or parsed.netloc not in ("", "localhost"):
        raise LookupError(f"MODEL_URI {settings['MODEL_URI']!r} is not a local file:// URI")
    return url2pathname(parsed.path)


def _no_constants(text):
    raise BadRequestBody(f"{text} is not allowed: numbers must be finite")


def _finite(text):
    number = float(text)  # ints too: float() of any digit string never raises, it overflows to inf
    if not math.isfinite(number):
        raise BadRequestBody(f"{text[:20]}... is not a finite number")
    return number


def decode_batch(raw: bytes) -> list[list[float]]:
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, parse_constant=_no_constants, parse_int=_finite, parse_float=_finite)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequestBody("the body must be a JSON object") from None
    features = document.get("features") if isinstance(document, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequestBody('expected {"features": [[f, f, f, f], ...]}')
    if all(type(item) is list for item in features):
        batch = features
    elif not any(type(item) is list for item in features):
        batch = [features]
    else:
        raise BadRequestBody("features mixes rows and numbers")
    for position, row in enumerate(batch):
        if len(row) != WIDTH or any(type(v) is not float for v in row):
            raise BadRequestBody(f"row {position} should be exactly {WIDTH} numbers")
    return batch


class RequestMetrics:
    """WSGI middleware: counts and times every answered request except /metrics."""

    def __init__(self, flask_app: Flask, registry: CollectorRegistry):
        self.flask_app = flask_app
        self.inner = flask_app.wsgi_app
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",),
                                 registry=registry)

    def endpoint_of(self, environ) -> str:
        try:
            rule, _ = self.flask_app.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (NotFound, MethodNotAllowed, HTTPException):
            return "unmatched"

    def __call__(self, environ, start_response):
        began = time.monotonic()
        endpoint = self.endpoint_of(environ)
        seen = {}

        def remember(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.inner(environ, remember)
        if endpoint != "/metrics":
            self.requests.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
            self.latency.labels(endpoint=endpoint).observe(time.monotonic() - began)
        return result


class ModelServer:
    model = None  # set by the loader thread once the file is read

    def __init__(self, config: Mapping[str, str] | None):
        self.settings = merged_settings(config)
        self.version = self.settings.get("MODEL_VERSION", "0+unknown")
        self.loaded = threading.Event()
        self.registry = CollectorRegistry()
        self.app = self._build_app()
        self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._loader.start()

    def _load(self):
        try:
            self.model = skops.io.load(resolve_model_file(self.settings))
            self.loaded.set()
        except Exception:
            print("model not loaded:", file=sys.stderr)
            traceback.print_exc()

    def _build_app(self) -> Flask:
        app = Flask("model_server")
        app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1  # a chunked body's stream ends one byte past LIMIT
        app.add_url_rule("/health", "health", self.health, methods=["GET"])
        app.add_url_rule("/ready", "ready", self.ready, methods=["GET"])
        app.add_url_rule("/predict", "predict", self.predict, methods=["POST"])
        app.add_url_rule("/metrics", "metrics", self.metrics, methods=["GET"])
        app.register_error_handler(HTTPException, self.http_error)
        app.register_error_handler(BadRequestBody, lambda e: (jsonify(error=str(e)), 400))
        app.wsgi_app = RequestMetrics(app, self.registry)
        return app

    @staticmethod
    def http_error(error: HTTPException):
        return jsonify(error=f"{error.code} {error.name}: {error.description}"), error.code

    def health(self):
        return jsonify(status="ok", model_version=self.version)

    def ready(self):
        if self.loaded.is_set():
            return jsonify(ready=True), 200
        return jsonify(ready=False, error="model not loaded"), 503

    @staticmethod
    def body() -> bytes:
        raw = request.get_data(cache=False)
        if len(raw) > LIMIT:
            raise RequestEntityTooLarge(f"the body is over {LIMIT} bytes")
        return raw

    def predict(self):
        if not self.loaded.is_set():
            return jsonify(error="the model is not loaded"), 503
        rows = decode_batch(self.body())
        labels = self.model.predict(np.array(rows, dtype=np.float64))
        return jsonify(predictions=labels.tolist(), model_version=self.version)

    def metrics(self):
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        content_type=CONTENT_TYPE_LATEST)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(config).app
