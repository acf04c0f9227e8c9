"""Model server for day 03: one object per app, metrics in a WSGI middleware."""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import numpy
import skops.io
from flask import Flask, abort, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

LIMIT = 1 << 20
WIDTH = 4


class BadRequestBody(Exception):
    """The body of a /predict call cannot be served."""


def _no_constants(token):
    raise BadRequestBody(f"{token} is not a finite number")


def _finite(item) -> bool:
    if type(item) is int:
        try:
            return math.isfinite(float(item))
        except OverflowError:
            return False
    return type(item) is float and math.isfinite(item)


def rows_from(raw: bytes) -> list[list[float]]:
    try:
        text = raw.decode("utf-8")
        payload = json.JSONDecoder(parse_constant=_no_constants).decode(text)
    except BadRequestBody:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequestBody("the body is not valid JSON") from None
    if type(payload) is not dict:
        raise BadRequestBody("expected a JSON object")
    features = payload.get("features")
    if type(features) is not list or len(features) == 0:
        raise BadRequestBody("'features' must be a non-empty list")
    single = all(type(item) is not list for item in features)
    batch = [features] if single else features
    table = []
    for position, row in enumerate(batch):
        if type(row) is not list or len(row) != WIDTH:
            raise BadRequestBody(f"row {position} must be a list of {WIDTH} numbers")
        if not all(_finite(item) for item in row):
            raise BadRequestBody(f"row {position} holds something that is not a finite number")
        table.append([float(item) for item in row])
    return table


class Metrics:
    """WSGI middleware: counts and times every request but GET /metrics, which it serves."""

    def __init__(self, app: Flask):
        self.app, self.inner = app, app.wsgi_app
        self.registry = CollectorRegistry()
        self.total = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                             registry=self.registry)
        self.seconds = Histogram("model_request_latency_seconds", "Seconds to answer", ("endpoint",),
                                 registry=self.registry)

    def _endpoint(self, environ) -> str:
        adapter = self.app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except (NotFound, MethodNotAllowed):
            return "unmatched"
        except HTTPException:
            return "unmatched"
        return rule.rule

    def __call__(self, environ, start_response):
        began = time.perf_counter()
        if environ.get("PATH_INFO") == "/metrics" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body = generate_latest(self.registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.inner(environ, recording_start_response)
        endpoint = self._endpoint(environ)
        self.total.labels(endpoint, seen.get("status", "500")).inc()
        self.seconds.labels(endpoint).observe(time.perf_counter() - began)
        return result


class ModelServer:
    SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")

    def __init__(self, config: Mapping[str, str] | None):
        given = {k: v for k, v in (config or {}).items() if v}
        environment = {k: os.environ[k] for k in self.SETTINGS if os.environ.get(k)}
        self.settings = collections.ChainMap(given, environment)
        self.model = None
        source = self._source()
        if source:
            try:
                self.model = skops.io.load(source)
            except Exception:  # noqa: BLE001 - any failure means "not ready"
                logging.getLogger("model_server").exception("model %s not loaded", source)
                self.model = None

    @property
    def version(self) -> str:
        return self.settings.get("MODEL_VERSION") or "0.0.0-dev"

    def _source(self):
        if self.settings.get("MODEL_PATH"):
            return self.settings["MODEL_PATH"]
        uri = self.settings.get("MODEL_URI")
        if uri:
            try:
                parts = urlsplit(uri)
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                return None
            if parts.scheme == "file" and parts.netloc in ("", "localhost"):
                return unquote(parts.path)
        return None

    def health(self):
        return jsonify({"status": "ok", "model_version": self.version})

    def ready(self):
        if self.model is None:
            return jsonify({"ready": False, "error": "model not loaded"}), 503
        return jsonify({"ready": True})

    def predict(self):
        if self.model is None:
            return jsonify({"error": "the model is not loaded"}), 503
        declared = request.content_length
        if declared is not None and declared > LIMIT:
            abort(413)
        raw = request.stream.read(LIMIT + 1)
        if len(raw) > LIMIT:
            abort(413)
        try:
            table = rows_from(raw)
        except BadRequestBody as problem:
            return jsonify({"error": str(problem)}), 400
        labels = self.model.predict(numpy.array(table, dtype=numpy.float64))
        return jsonify({"predictions": labels.tolist(), "model_version": self.version})

    def build(self) -> Flask:
        app = Flask("model_server")
        app.add_url_rule("/health", view_func=self.health, methods=["GET"])
        app.add_url_rule("/ready", view_func=self.ready, methods=["GET"])
        app.add_url_rule("/predict", view_func=self.predict, methods=["POST"])
        app.register_error_handler(HTTPException, lambda e: (jsonify({"error": e.name}), e.code))
        app.wsgi_app = Metrics(app)
        return app


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(config).build()
