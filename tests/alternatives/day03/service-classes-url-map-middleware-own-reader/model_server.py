"""Model server as a small service class; metrics from a WSGI middleware."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
from flask import Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from skops.io import load as skops_load
from werkzeug.exceptions import HTTPException, NotFound, MethodNotAllowed

logger = logging.getLogger("model_server")

LIMIT = 1 << 20
WIDTH = 4


class BadRequest(Exception):
    """Input the server refuses with a 400."""


def _json_response(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class Settings:
    def __init__(self, config):
        overrides = dict(config or {})

        def pick(name):
            value = overrides[name] if name in overrides else os.environ.get(name, "")
            return value or None

        self.path = pick("MODEL_PATH")
        self.uri = pick("MODEL_URI")
        self.version = pick("MODEL_VERSION") or "0.0.0-unknown"

    def model_file(self):
        if self.path:
            return self.path
        if self.uri:
            try:
                parts = urlsplit(self.uri)
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                return None
            if parts.scheme == "file" and parts.netloc in ("", "localhost"):
                return url2pathname(parts.path)
        return None


class Validator:
    @staticmethod
    def _finite(value):
        if type(value) not in (int, float):
            raise BadRequest(f"not a number: {value!r}")
        try:
            converted = float(value)
        except OverflowError:
            raise BadRequest("number out of range") from None
        if math.isinf(converted) or math.isnan(converted):
            raise BadRequest("number out of range")
        return converted

    @classmethod
    def rows(cls, raw: bytes):
        def no_constants(token):
            raise BadRequest(f"{token} is not allowed")

        try:
            text = raw.decode("utf-8")
            payload = json.loads(text, parse_constant=no_constants)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
            if isinstance(error, BadRequest):
                raise
            raise BadRequest("malformed JSON") from None
        features = payload.get("features") if isinstance(payload, dict) else None
        if type(features) is not list or len(features) == 0:
            raise BadRequest('"features" should be a non-empty list')
        kinds = {type(item) is list for item in features}
        if kinds == {False}:
            batch = [features]
        elif kinds == {True}:
            batch = features
        else:
            raise BadRequest("mix of rows and numbers")
        out = []
        for index, row in enumerate(batch):
            if len(row) != WIDTH:
                raise BadRequest(f"row {index} should hold {WIDTH} numbers")
            out.append(tuple(cls._finite(v) for v in row))
        return out


class Metrics:
    def __init__(self, url_map):
        self.url_map = url_map
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",),
                                 registry=self.registry)

    def endpoint_for(self, environ):
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except (MethodNotAllowed, NotFound, HTTPException):  # a 405 is unmatched, like a 404
            return "unmatched"

    def wrap(self, wsgi_app):
        def middleware(environ, start_response):
            begun = time.perf_counter()
            if environ.get("PATH_INFO") == "/metrics":
                return wsgi_app(environ, start_response)
            seen = {}

            def spy(status, headers, exc_info=None):
                seen["status"] = status.split(" ", 1)[0]
                return start_response(status, headers, exc_info)

            result = wsgi_app(environ, spy)
            endpoint = self.endpoint_for(environ)
            self.requests.labels(endpoint, seen.get("status", "500")).inc()
            self.latency.labels(endpoint).observe(time.perf_counter() - begun)
            return result

        return middleware


class ModelService:
    def __init__(self, config):
        self.settings = Settings(config)
        self.model = self._load()

    def _load(self):
        where = self.settings.model_file()
        if not where:
            logger.error("MODEL_PATH / MODEL_URI name no local model file")
            return None
        try:
            return skops_load(where)
        except Exception as error:  # any broken file leaves the server not ready
            logger.error("model %s not loaded: %r", where, error)
            return None

    def read_body(self):
        declared = request.content_length
        if declared is not None and declared > LIMIT:
            abort(413)
        data = request.stream.read(LIMIT + 1)
        if len(data) > LIMIT:
            abort(413)
        return data

    def build(self) -> Flask:
        app = Flask("model_server")
        version = self.settings.version

        @app.errorhandler(HTTPException)
        def http_error(error):
            return _json_response({"error": f"{error.code} {error.name}"}, error.code)

        @app.errorhandler(BadRequest)
        def bad_request(error):
            return _json_response({"error": str(error)}, 400)

        @app.route("/health", methods=["GET"])
        def health():
            return _json_response({"status": "ok", "model_version": version})

        @app.route("/ready", methods=["GET"])
        def ready():
            if self.model is None:
                return _json_response({"ready": False, "error": "model not loaded"}, 503)
            return _json_response({"ready": True})

        @app.route("/predict", methods=["POST"])
        def predict():
            if self.model is None:
                return _json_response({"error": "no model loaded"}, 503)
            rows = Validator.rows(self.read_body())
            labels = self.model.predict(np.array(rows, dtype=np.float64))
            return _json_response({"predictions": labels.tolist(), "model_version": version})

        metrics = Metrics(app.url_map)

        @app.route("/metrics", methods=["GET"])
        def scrape():
            return Response(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.wsgi_app = metrics.wrap(app.wsgi_app)
        return app


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelService(config).build()
