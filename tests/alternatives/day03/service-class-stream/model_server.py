"""Day-03 model server as a small service object: background load, WSGI-middleware metrics,
bounded body reads and a hand-rolled validator."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import ChainMap
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

import numpy as np
from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

LOG = logging.getLogger("model_server")
LIMIT = 1 << 20
WIDTH = 4


class BadRequest(Exception):
    """The request body is not a valid prediction request."""


def _json(payload, status=200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _number(value) -> float:
    if type(value) is bool or type(value) not in (int, float):
        raise BadRequest(f"not a number: {json.dumps(value)[:30]}")
    try:
        number = float(value)
    except OverflowError:
        raise BadRequest("number too large") from None
    if number != number or number in (math.inf, -math.inf):
        raise BadRequest("number is not finite")
    return number


def _no_constants(name):
    raise BadRequest(f"{name} is not allowed")


def rows_from(body: bytes) -> list[list[float]]:
    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_constant=_no_constants)
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("body is not JSON") from None
    features = document.get("features") if isinstance(document, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequest('expected {"features": [[f, f, f, f], ...]}')
    if all(type(item) is not list for item in features):
        features = [features]
    batch = []
    for row in features:
        if type(row) is not list or len(row) != WIDTH:
            raise BadRequest(f"each row must hold exactly {WIDTH} numbers")
        batch.append([_number(value) for value in row])
    return batch


class ModelService:
    def __init__(self, settings: Mapping[str, str]):
        self.version = settings.get("MODEL_VERSION") or "dev"
        self.model = None
        self._loaded = threading.Event()
        source = settings.get("MODEL_PATH")
        if not source and settings.get("MODEL_URI"):
            try:
                parsed = urlparse(settings["MODEL_URI"])
            except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
                parsed = urlparse("")
            source = unquote(parsed.path) if parsed.scheme == "file" and parsed.netloc in ("", "localhost") else settings["MODEL_URI"]
        self.source = source
        threading.Thread(target=self._load, daemon=True).start()

    def _load(self):
        try:
            if not self.source:
                raise FileNotFoundError("no MODEL_PATH or MODEL_URI")
            import skops.io

            self.model = skops.io.load(self.source)
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            LOG.exception("model could not be loaded from %r", self.source)

    def predict(self, rows):
        return self.model.predict(np.array(rows, dtype=np.float64)).tolist()


class Metrics:
    """WSGI middleware: times and counts every request but /metrics."""

    def __init__(self, flask_app: Flask):
        self.flask_app = flask_app
        self.wsgi_app = flask_app.wsgi_app
        self.registry = CollectorRegistry(auto_describe=True)
        self.count = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                             registry=self.registry)
        self.seconds = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",),
                                 registry=self.registry)

    def _endpoint(self, environ) -> str:
        adapter = self.flask_app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
            return rule.rule
        except RequestRedirect:
            return "unmatched"
        except HTTPException:  # 404 and 405 alike: no route takes the request
            return "unmatched"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return self.wsgi_app(environ, start_response)
        began = time.perf_counter()
        status_seen = []

        def recording_start_response(status, headers, exc_info=None):
            status_seen.append(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, recording_start_response)
        finally:
            endpoint = self._endpoint(environ)
            self.count.labels(endpoint, status_seen[-1] if status_seen else "500").inc()
            self.seconds.labels(endpoint).observe(time.perf_counter() - began)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = ChainMap(dict(config or {}), {k: v for k, v in os.environ.items()
                                             if k in ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")})
    service = ModelService(settings)
    app = Flask(__name__)
    # LIMIT + 1, not LIMIT: a chunked body's stream ends here, and predict reads LIMIT + 1 bytes to tell
    # a body of exactly 1 MiB from a longer one.
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
    metrics = Metrics(app)
    app.wsgi_app = metrics

    @app.errorhandler(HTTPException)
    def _http(exc):
        return _json({"error": exc.description or exc.name}, exc.code)

    @app.errorhandler(BadRequest)
    def _bad(exc):
        return _json({"error": str(exc)}, 400)

    @app.route("/health", methods=["GET"])
    def health():
        return _json({"status": "ok", "model_version": service.version})

    @app.route("/ready", methods=["GET"])
    def ready():
        if service.model is None:
            return _json({"ready": False, "error": "model not loaded"}, 503)
        return _json({"ready": True, "model_version": service.version})

    @app.route("/predict", methods=["POST"])
    def predict():
        if service.model is None:
            return _json({"error": "model not loaded"}, 503)
        body = request.stream.read(LIMIT + 1)
        if len(body) > LIMIT:
            return _json({"error": "body over 1 MiB"}, 413)
        rows = rows_from(body)
        predictions = service.predict(rows)  # the model failing on valid rows is a 500 (HTTPException handler)
        return _json({"predictions": predictions, "model_version": service.version})

    @app.route("/metrics", methods=["GET"])
    def scrape():
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return app
