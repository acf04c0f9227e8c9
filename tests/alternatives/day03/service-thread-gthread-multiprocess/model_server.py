"""Day 03 model server, style B: a service object, background loading, WSGI middleware for
metrics, a hand-made body limit, and prometheus_client's multiprocess mode when configured."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Mapping

import numpy as np
from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException
from urllib.parse import unquote, urlsplit

LIMIT = 1 << 20
N_FEATURES = 4


class BadRequest(Exception):
    pass


def _setting(name: str, config: Mapping[str, str]) -> str | None:
    if name in config:
        return config[name]
    return os.environ.get(name)


class ModelService:
    def __init__(self, config: Mapping[str, str]):
        path = _setting("MODEL_PATH", config)
        if not path:
            try:
                uri = urlsplit(_setting("MODEL_URI", config) or "")
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                uri = urlsplit("")
            if uri.scheme == "file" and uri.netloc in ("", "localhost"):
                path = unquote(uri.path)
            else:
                path = uri.geturl() or None
        self.path = path
        self.version = _setting("MODEL_VERSION", config) or "0+unknown"
        self.model = None
        self._lock = threading.Lock()
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self):
        if not self.path:
            print("model server: no model configured", file=sys.stderr)
            return
        try:
            from skops.io import load

            loaded = load(self.path)
        except Exception as exc:  # noqa: BLE001
            print(f"model server: cannot load {self.path}: {exc!r}", file=sys.stderr)
            return
        with self._lock:
            self.model = loaded

    @property
    def ready(self) -> bool:
        return self.model is not None

    def predict(self, rows):
        return self.model.predict(np.array(rows, dtype=np.float64)).tolist()


def _no_constants(token):
    raise BadRequest(f"{token} is not allowed")


def _check_value(value):
    if type(value) not in (int, float):
        raise BadRequest("features must be numbers")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise BadRequest("features must be finite")
    return value


def rows_from(raw: bytes):
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except BadRequest:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError):
        raise BadRequest("malformed JSON") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequest("expected {\"features\": [[f, f, f, f], ...]}")
    batch = [features] if not isinstance(features[0], list) else features
    for row in batch:
        if type(row) is not list or len(row) != N_FEATURES:
            raise BadRequest(f"each row needs exactly {N_FEATURES} numbers")
        for value in row:
            _check_value(value)
    return batch


class Metrics:
    """WSGI middleware: counts and times every answered request except /metrics."""

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if self.multiproc_dir:
            os.makedirs(self.multiproc_dir, exist_ok=True)
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Answered HTTP requests", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Time to answer, in seconds", ("endpoint",),
                                 registry=self.registry)

    def exposition(self) -> bytes:
        if self.multiproc_dir:
            from prometheus_client import multiprocess

            fresh = CollectorRegistry()
            multiprocess.MultiProcessCollector(fresh)
            return generate_latest(fresh)
        return generate_latest(self.registry)

    def _endpoint(self, environ) -> str:
        adapter = self.app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except HTTPException:
            return "unmatched"
        return rule.rule

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.wsgi_app(environ, start_response)
        began = time.perf_counter()
        seen = []

        def recording_start_response(status, headers, exc_info=None):
            seen.append(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        endpoint = self._endpoint(environ)
        self.requests.labels(endpoint=endpoint, status=seen[-1] if seen else "500").inc()
        self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - began)
        return result


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    service = ModelService(dict(config or {}))
    app = Flask("model_server")
    metrics = Metrics(app, app.wsgi_app)
    app.wsgi_app = metrics

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return _json({"error": exc.name}, exc.code)

    @app.errorhandler(BadRequest)
    def bad_request(exc):
        return _json({"error": str(exc)}, 400)

    @app.route("/health", methods=["GET"])
    def health():
        return _json({"status": "ok", "model_version": service.version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if service.ready:
            return _json({"status": "ready"})
        return _json({"status": "not ready", "error": "model not loaded"}, 503)

    @app.route("/predict", methods=["POST"])
    def predict():
        if not service.ready:
            return _json({"error": "the model is not loaded"}, 503)
        declared = request.content_length
        if declared is not None and declared > LIMIT:
            return _json({"error": "body over 1 MiB"}, 413)
        raw = request.stream.read(LIMIT + 1)
        if len(raw) > LIMIT:
            return _json({"error": "body over 1 MiB"}, 413)
        rows = rows_from(raw)
        return _json({"predictions": service.predict(rows), "model_version": service.version})

    @app.route("/metrics", methods=["GET"])
    def scrape():
        return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    return app
