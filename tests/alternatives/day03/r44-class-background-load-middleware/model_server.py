"""Day 03 model server, object style: a ModelServer class, a background loader thread,
a WSGI middleware for the metrics, numpy for the number checks."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections import ChainMap
from collections.abc import Mapping
from urllib.parse import urlsplit

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

LIMIT = 1 << 20
log = logging.getLogger("model_server")


class BadRequestBody(Exception):
    """The client's fault: answered with 400."""


def _non_empty(mapping: Mapping[str, str], keys) -> dict[str, str]:
    return {key: mapping[key] for key in keys if mapping.get(key)}


class Settings:
    KEYS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")

    def __init__(self, config: Mapping[str, str] | None):
        merged = ChainMap(_non_empty(config or {}, self.KEYS), _non_empty(os.environ, self.KEYS))
        self.values = dict(merged)  # a snapshot, taken once

    @property
    def version(self) -> str:
        return self.values.get("MODEL_VERSION", "dev")

    @property
    def model_file(self) -> str | None:
        if "MODEL_PATH" in self.values:
            return self.values["MODEL_PATH"]
        if "MODEL_URI" not in self.values:
            return None
        try:
            uri = urlsplit(self.values["MODEL_URI"])
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        if uri.scheme.casefold() == "file" and uri.netloc.casefold() in ("", "localhost"):
            return urllib.request.url2pathname(uri.path)
        return None


class Metrics:
    """WSGI middleware: times and counts every answer except GET /metrics itself."""

    def __init__(self, flask_app: Flask):
        self.flask_app = flask_app
        self.inner = flask_app.wsgi_app
        self.registry = CollectorRegistry()
        self.count = Counter("model_requests_total", "Answered requests", ("endpoint", "status"),
                             registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",),
                                 registry=self.registry)

    def endpoint(self, environ) -> str | None:
        adapter = self.flask_app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except (NotFound, MethodNotAllowed):
            return "unmatched"
        except HTTPException:  # a redirect, say
            return "unmatched"
        return None if rule.rule == "/metrics" else rule.rule

    def __call__(self, environ, start_response):
        began = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.inner(environ, recording_start_response)
        endpoint = self.endpoint(environ)
        if endpoint is not None:
            self.count.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
            self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - began)
        return result


class ModelServer:
    def __init__(self, config: Mapping[str, str] | None):
        self.settings = Settings(config)
        self.model = None
        self.loaded = threading.Event()
        self.app = Flask(__name__)
        self.app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
        self.app.add_url_rule("/health", view_func=self.health, methods=["GET"])
        self.app.add_url_rule("/ready", view_func=self.ready, methods=["GET"])
        self.app.add_url_rule("/predict", view_func=self.predict, methods=["POST"])
        self.app.add_url_rule("/metrics", view_func=self.metrics_page, methods=["GET"])
        self.app.register_error_handler(HTTPException, self.http_error)
        self.app.register_error_handler(BadRequestBody, lambda error: (jsonify(error=str(error)), 400))
        self.metrics = Metrics(self.app)
        self.app.wsgi_app = self.metrics
        threading.Thread(target=self._load, args=(self.settings.model_file,), daemon=True).start()

    def _load(self, path: str | None) -> None:
        import skops.io

        try:
            if path is None:
                raise FileNotFoundError("neither MODEL_PATH nor a file:// MODEL_URI is set")
            self.model = skops.io.load(path)
        except Exception:  # noqa: BLE001
            log.exception("model not loaded")
        finally:
            self.loaded.set()

    # --- views -------------------------------------------------------------------------
    def health(self):
        return jsonify({"status": "ok", "model_version": self.settings.version})

    def ready(self):
        if self.model is not None:
            return jsonify({"ready": True})
        return jsonify({"ready": False, "error": "model not loaded"}), 503

    def predict(self):
        model = self.model
        if model is None:
            return jsonify({"error": "model not loaded"}), 503
        matrix = self.parse(self.body())
        try:
            labels = model.predict(matrix)
        except Exception as error:  # noqa: BLE001
            log.exception("prediction failed")
            return jsonify({"error": f"prediction failed ({type(error).__name__})"}), 500
        return jsonify({"predictions": labels.tolist(), "model_version": self.settings.version})

    def metrics_page(self):
        return Response(generate_latest(self.metrics.registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        content_type=CONTENT_TYPE_LATEST)

    def http_error(self, error: HTTPException):
        return jsonify({"error": f"{error.code} {error.name}"}), error.code

    # --- input -------------------------------------------------------------------------
    @staticmethod
    def body() -> bytes:
        data = request.get_data(cache=False)  # stops at MAX_CONTENT_LENGTH = 1 MiB + 1
        if len(data) > LIMIT:
            raise RequestEntityTooLarge()
        return data

    @staticmethod
    def parse(body: bytes) -> np.ndarray:
        def refuse(constant):
            raise BadRequestBody(f"{constant} is not allowed")

        try:
            document = json.loads(body, parse_constant=refuse)
        except BadRequestBody:
            raise
        except (ValueError, RecursionError):
            raise BadRequestBody("the body is not valid JSON") from None
        features = document.get("features") if isinstance(document, dict) else None
        if type(features) is not list or len(features) == 0:
            raise BadRequestBody('expected an object with a non-empty "features" list')
        batch = features if all(type(item) is list for item in features) else [features]
        for row in batch:
            if type(row) is not list or len(row) != 4:
                raise BadRequestBody("each row must hold exactly 4 numbers")
            if any(type(value) not in (int, float) for value in row):
                raise BadRequestBody("features must be numbers")
        try:
            matrix = np.array(batch, dtype=np.float64)
        except OverflowError:
            raise BadRequestBody("a number is too large") from None
        if not np.isfinite(matrix).all():
            raise BadRequestBody("features must be finite")
        return matrix


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(config).app
