"""Day 03 model server: object style (a ModelServer class, a WSGI middleware for metrics)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

LIMIT = 1 << 20
WIDTH = 4


class BadRequestBody(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    model_path: str | None
    model_uri: str | None
    model_version: str

    @classmethod
    def gather(cls, config: Mapping[str, str] | None) -> "Settings":
        def non_empty(mapping):
            return {key: value for key, value in mapping.items() if value != "" and value is not None}

        merged = ChainMap(non_empty(dict(config or {})), non_empty(dict(os.environ)))
        return cls(merged.get("MODEL_PATH"), merged.get("MODEL_URI"), merged.get("MODEL_VERSION", "0-unknown"))

    def model_file(self) -> str | None:
        if self.model_path is not None:
            return self.model_path
        if self.model_uri is None:
            return None
        parts = urlsplit(self.model_uri)
        if parts.scheme != "file" or parts.netloc.lower() not in ("", "localhost"):
            return None
        return url2pathname(parts.path)


class PredictRequest:
    """Turns the raw body into rows of floats, or raises BadRequestBody."""

    @staticmethod
    def _refuse(token):
        raise BadRequestBody(f"{token} is not allowed")

    @classmethod
    def rows_from(cls, raw: bytes) -> list[list[float]]:
        try:
            text = raw.decode("utf-8")
            document = json.loads(text, parse_int=float, parse_float=float, parse_constant=cls._refuse)
        except BadRequestBody:
            raise
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError):
            raise BadRequestBody("the body is not valid JSON") from None
        if type(document) is not dict or "features" not in document:
            raise BadRequestBody('expected an object with a "features" list')
        features = document["features"]
        if type(features) is not list or len(features) == 0:
            raise BadRequestBody('"features" must be a non-empty list')
        kinds = {type(item) is list for item in features}
        if kinds == {True}:
            batch = features
        elif kinds == {False}:
            batch = [features]
        else:
            raise BadRequestBody("mix of rows and numbers")
        for row in batch:
            if len(row) != WIDTH:
                raise BadRequestBody(f"each row must hold {WIDTH} numbers")
            for value in row:
                if type(value) is not float or not math.isfinite(value):
                    raise BadRequestBody(f"{value!r} is not a finite number")
        return batch


class MetricsMiddleware:
    """WSGI middleware: counts and times each request under its route pattern."""

    def __init__(self, flask_app: Flask, wsgi_app):
        self.flask_app, self.wsgi_app = flask_app, wsgi_app
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Answered requests", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Latency (s)", ("endpoint",),
                                 registry=self.registry)

    def endpoint_of(self, environ) -> str:
        try:
            rule, _ = self.flask_app.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return "unmatched"
        return rule.rule

    def __call__(self, environ, start_response):
        began = time.perf_counter()
        endpoint = self.endpoint_of(environ)
        seen: dict[str, Any] = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        if endpoint != "/metrics":
            self.requests.labels(endpoint=endpoint, status=seen.get("status", "500")).inc()
            self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - began)
        return result


class ModelServer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = self._load()
        self.app = Flask(__name__)
        self.app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
        self.metrics = MetricsMiddleware(self.app, self.app.wsgi_app)
        self.app.wsgi_app = self.metrics
        self._routes()

    def _load(self):
        import skops.io

        try:
            where = self.settings.model_file()
            if where is None:
                log.error("no local model file configured")
                return None
            return skops.io.load(where)
        except Exception as error:  # noqa: BLE001
            log.error("model from %s could not be loaded: %r", self.settings, error)
            return None

    @staticmethod
    def _body() -> bytes:
        stream = request.stream
        buffer = bytearray()
        while len(buffer) <= LIMIT:
            piece = stream.read(min(65536, LIMIT + 1 - len(buffer)))
            if not piece:
                break
            buffer += piece
        if len(buffer) > LIMIT:
            raise RequestEntityTooLarge()
        return bytes(buffer)

    def _routes(self):
        app = self.app
        version = self.settings.model_version
        app.register_error_handler(HTTPException,
                                   lambda e: (jsonify({"error": f"{e.code} {e.name}: {e.description}"}), e.code))
        app.register_error_handler(BadRequestBody, lambda e: (jsonify({"error": str(e)}), 400))
        app.register_error_handler(Exception, lambda e: (jsonify({"error": "the server failed"}), 500))
        app.add_url_rule("/health", "health", lambda: {"status": "ok", "model_version": version})
        app.add_url_rule("/ready", "ready", self.ready)
        app.add_url_rule("/predict", "predict", self.predict, methods=["POST"])
        app.add_url_rule("/metrics", "metrics", self.scrape)

    def ready(self):
        if self.model is None:
            return {"ready": False, "error": "model not loaded"}, 503
        return {"ready": True}, 200

    def predict(self):
        if self.model is None:
            return {"error": "model not loaded"}, 503
        rows = PredictRequest.rows_from(self._body())
        labels = self.model.predict(np.array(rows, dtype=np.float64))
        return {"predictions": labels.tolist(), "model_version": self.settings.model_version}

    def scrape(self):
        return Response(generate_latest(self.metrics.registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    return ModelServer(Settings.gather(config)).app
