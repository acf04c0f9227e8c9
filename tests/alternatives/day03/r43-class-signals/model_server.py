"""Day-03 model server: a ModelService class, ChainMap settings, Flask signals for metrics."""

from __future__ import annotations

import json
import logging
import os
from collections import ChainMap
from collections.abc import Mapping
from functools import partial
from time import monotonic
from urllib.parse import unquote, urlsplit

import numpy as np
import skops.io
from flask import Flask, Response, g, request, request_finished, request_started
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

LIMIT = 1 << 20
_log = logging.getLogger("model_server")


class BadRequestBody(Exception):
    """The client's body is not a valid request."""


def _no_constants(token):
    raise BadRequestBody(f"non-finite number {token}")


class ModelService:
    def __init__(self, config: Mapping[str, str] | None):
        given = {k: v for k, v in (config or {}).items() if v}
        env = {k: os.environ[k] for k in ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION") if os.environ.get(k)}
        self.settings = dict(ChainMap(given, env))
        self.version = self.settings.get("MODEL_VERSION") or "0-dev"
        self.model = self._load(self._where())

    def _where(self):
        if "MODEL_PATH" in self.settings:
            return self.settings["MODEL_PATH"]
        uri = self.settings.get("MODEL_URI")
        if uri is None:
            return None
        try:
            scheme, host, path, _query, _fragment = urlsplit(uri)
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None
        if scheme.lower() == "file" and host.lower() in {"", "localhost"}:
            return unquote(path)
        return None

    @staticmethod
    def _load(where):
        if where is None:
            return None
        try:
            return skops.io.load(where)
        except Exception as error:  # noqa: BLE001
            _log.error("model not loaded from %r: %s", where, error)
            return None

    @property
    def ready(self) -> bool:
        return self.model is not None

    @staticmethod
    def body_of(stream) -> bytes:
        buffer = bytearray()
        for chunk in iter(partial(stream.read, 64 * 1024), b""):
            buffer += chunk
            if len(buffer) > LIMIT:
                raise RequestEntityTooLarge("the body is over 1 MiB")
        return bytes(buffer)

    @staticmethod
    def rows_of(body: bytes) -> np.ndarray:
        try:
            document = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
        except BadRequestBody:
            raise
        except (ValueError, RecursionError):
            raise BadRequestBody("the body is not valid JSON") from None
        features = document.get("features") if isinstance(document, dict) else None
        if type(features) is not list or len(features) == 0:
            raise BadRequestBody('expected an object with a non-empty "features" list')
        if all(type(cell) is not list for cell in features):
            features = [features]
        for row in features:
            if type(row) is not list or len(row) != 4 or any(type(cell) not in (int, float) for cell in row):
                raise BadRequestBody("each row must be a list of exactly 4 numbers")
        try:
            matrix = np.array(features, dtype=np.float64)
        except OverflowError:
            raise BadRequestBody("a number is too large for a float") from None
        if not np.isfinite(matrix).all():
            raise BadRequestBody("every number must be finite")
        return matrix

    def predict(self, matrix: np.ndarray) -> list:
        return self.model.predict(matrix).tolist()


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    service = ModelService(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1

    registry = CollectorRegistry(auto_describe=True)
    requests_total = Counter("model_requests_total", "Answered requests by route and status",
                             ("endpoint", "status"), registry=registry)
    latency = Histogram("model_request_latency_seconds", "Time to answer, by route", ("endpoint",),
                        registry=registry)

    def on_start(sender, **_extra):
        g.t0 = monotonic()

    def on_finish(sender, response, **_extra):
        if request.path == "/metrics":
            return
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        latency.labels(endpoint=endpoint).observe(monotonic() - g.t0)

    request_started.connect(on_start, app, weak=False)
    request_finished.connect(on_finish, app, weak=False)

    def on_bad_body(error):
        return _json({"error": str(error)}, 400)

    def on_http(error: HTTPException):
        return _json({"error": f"{error.code} {error.name}: {error.description}"}, error.code)

    def on_crash(error):
        _log.exception("unexpected failure")
        return _json({"error": "internal server error"}, 500)

    app.register_error_handler(BadRequestBody, on_bad_body)
    app.register_error_handler(HTTPException, on_http)
    app.register_error_handler(Exception, on_crash)

    def health():
        return _json({"status": "ok", "model_version": service.version})

    def ready():
        if not service.ready:
            return _json({"ready": False, "error": "model not loaded"}, 503)
        return _json({"ready": True}, 200)

    def predict():
        if not service.ready:
            return _json({"error": "the model is not loaded"}, 503)
        matrix = service.rows_of(service.body_of(request.stream))
        return _json({"predictions": service.predict(matrix), "model_version": service.version})

    def metrics():
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])
    app.add_url_rule("/metrics", view_func=metrics, methods=["GET"])
    app.extensions["model_service"] = service
    return app
