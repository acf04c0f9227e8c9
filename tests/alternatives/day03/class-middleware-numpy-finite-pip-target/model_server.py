"""Model server (object style: a ModelServer class, a WSGI metrics middleware)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

import numpy as np
import skops.io
from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20
ENDPOINT_KEY = "model_server.endpoint"


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class BadRequest(Exception):
    """The request body does not follow the contract."""


class Settings:
    def __init__(self, config):
        def pick(name):
            given = (config or {}).get(name)
            if given:
                return str(given)
            return os.environ.get(name) or None

        self.path = pick("MODEL_PATH")
        self.uri = pick("MODEL_URI")
        self.version = pick("MODEL_VERSION") or "0+unknown"

    def model_file(self):
        if self.path:
            return self.path
        if self.uri:
            parsed = urlparse(self.uri)
            if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
                return unquote(parsed.path)
        return None


class MetricsMiddleware:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds to answer", ("endpoint",),
                                 registry=self.registry)

    def __call__(self, environ, start_response):
        began = time.monotonic()
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        if environ.get("PATH_INFO") != "/metrics":
            endpoint = environ.get(ENDPOINT_KEY, "unmatched")
            self.requests.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
            self.latency.labels(endpoint=endpoint).observe(time.monotonic() - began)
        return result


class ModelServer:
    def __init__(self, config):
        self.settings = Settings(config)
        self.model = self._load()
        self.app = Flask("model_server")
        self.metrics = MetricsMiddleware(self.app.wsgi_app)
        self.app.wsgi_app = self.metrics
        self.app.before_request(self._remember_endpoint)
        self.app.register_error_handler(HTTPException, self._http_error)
        self.app.add_url_rule("/health", view_func=self.health, methods=["GET"])
        self.app.add_url_rule("/ready", view_func=self.ready, methods=["GET"])
        self.app.add_url_rule("/predict", view_func=self.predict, methods=["POST"])
        self.app.add_url_rule("/metrics", view_func=self.scrape, methods=["GET"])

    def _load(self):
        where = None
        try:
            where = self.settings.model_file()
            if where is None:
                return None
            return skops.io.load(where)
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            logging.getLogger("model_server").warning("model %s not loaded: %s", where, error)
            return None

    @staticmethod
    def _remember_endpoint():
        if request.url_rule is not None:
            request.environ[ENDPOINT_KEY] = request.url_rule.rule

    @staticmethod
    def _http_error(error):
        return _json({"error": f"{error.code} {error.name}"}, error.code)

    def health(self):
        return _json({"status": "ok", "model_version": self.settings.version})

    def ready(self):
        if self.model is None:
            return _json({"ready": False, "error": "model not loaded"}, 503)
        return _json({"ready": True}, 200)

    def scrape(self):
        return Response(generate_latest(self.metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @staticmethod
    def _read_body():
        length = request.content_length
        if length is not None and length > LIMIT:
            return None
        data = request.stream.read(LIMIT + 1)
        if len(data) > LIMIT:
            return None
        return data

    @staticmethod
    def _rows(data):
        def refuse(name):
            raise BadRequest(f"{name} is not allowed")

        try:
            document = json.loads(data, parse_constant=refuse)
        except BadRequest:
            raise
        except (ValueError, RecursionError):
            raise BadRequest("the body is not valid JSON") from None
        features = document.get("features") if type(document) is dict else None
        if type(features) is not list or len(features) == 0:
            raise BadRequest('expected an object with a non-empty "features" list')
        batch = features if all(type(item) is list for item in features) else [features]
        for row in batch:
            if type(row) is not list or len(row) != 4 or any(type(v) not in (int, float) for v in row):
                raise BadRequest("each row must be exactly 4 numbers")
        try:
            matrix = np.array(batch, dtype=np.float64)
        except OverflowError:
            raise BadRequest("a number is too large") from None
        if not np.isfinite(matrix).all():
            raise BadRequest("numbers must be finite")
        return matrix

    def predict(self):
        if self.model is None:
            return _json({"error": "the model is not loaded"}, 503)
        data = self._read_body()
        if data is None:
            return _json({"error": "the body is over 1 MiB"}, 413)
        try:
            matrix = self._rows(data)
        except BadRequest as error:
            return _json({"error": str(error)}, 400)
        labels = self.model.predict(matrix).tolist()
        return _json({"predictions": labels, "model_version": self.settings.version})


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(config).app
