"""Day 03 model server (style B: a service object, explicit try/except in routes)."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from time import monotonic
from urllib.parse import urlparse, unquote

import numpy
import skops.io
from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20


class BadRequest(ValueError):
    """The client's fault: answered with 400."""


class TooLarge(Exception):
    pass


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _lookup(name, config):
    value = config.get(name) if config else None
    if value in (None, ""):
        value = os.environ.get(name) or None
    return value


def resolve_model_file(path, uri):
    if path is not None:
        return path
    if uri is None:
        return None
    try:
        parsed = urlparse(uri)
    except ValueError:
        return None
    if parsed.scheme != "file" or parsed.hostname not in (None, "localhost"):
        return None
    return unquote(parsed.path)


class ModelService:
    def __init__(self, config):
        self.version = _lookup("MODEL_VERSION", config) or "dev"
        self.model = None
        try:
            target = resolve_model_file(_lookup("MODEL_PATH", config), _lookup("MODEL_URI", config))
            if target is not None:
                self.model = skops.io.load(target)
        except Exception as error:  # noqa: BLE001 - a broken model only means "not ready"
            print(f"model not loaded: {error!r}", file=sys.stderr)

    @property
    def ready(self):
        return self.model is not None

    def predict(self, rows):
        return self.model.predict(numpy.array(rows, dtype=numpy.float64)).tolist()


def _no_constants(token):
    raise BadRequest(f"{token} is not allowed")


def _check_number(item):
    if type(item) not in (int, float):
        raise BadRequest("features must hold numbers only")
    try:
        if not math.isfinite(item):
            raise BadRequest("numbers must be finite")
    except OverflowError:
        raise BadRequest("number out of range") from None
    return item


def rows_from(raw: bytes):
    try:
        doc = json.loads(raw, parse_constant=_no_constants)
    except BadRequest:
        raise
    except (ValueError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if type(doc) is not dict:
        raise BadRequest("expected a JSON object")
    feats = doc.get("features")
    if type(feats) is not list or len(feats) == 0:
        raise BadRequest("'features' must be a non-empty list")
    kinds = {type(x) is list for x in feats}
    if kinds == {False}:
        feats = [feats]
    elif kinds != {True}:
        raise BadRequest("'features' mixes rows with numbers")
    for row in feats:
        if len(row) != 4:
            raise BadRequest("every row needs exactly 4 numbers")
        for item in row:
            _check_number(item)
    return feats


def read_limited(stream):
    buf = bytearray()
    while len(buf) <= LIMIT:
        piece = stream.read(min(65536, LIMIT + 1 - len(buf)))
        if not piece:
            break
        buf += piece
    if len(buf) > LIMIT:
        raise TooLarge()
    return bytes(buf)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    service = ModelService(dict(config) if config else {})
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1

    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ("endpoint", "status"), registry=registry)
    seconds = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",), registry=registry)

    @app.before_request
    def clock_in():
        g.t0 = monotonic()

    @app.after_request
    def clock_out(response):
        if request.path == "/metrics":
            return response
        label = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(endpoint=label, status=str(response.status_code)).inc()
        seconds.labels(endpoint=label).observe(monotonic() - getattr(g, "t0", monotonic()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return _json({"error": f"{exc.code} {exc.name}"}, exc.code)

    @app.errorhandler(Exception)
    def any_error(exc):
        return _json({"error": "internal error"}, 500)

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
        try:
            rows = rows_from(read_limited(request.stream))
        except TooLarge:
            return _json({"error": "body larger than 1 MiB"}, 413)
        except BadRequest as exc:
            return _json({"error": str(exc)}, 400)
        try:
            predictions = service.predict(rows)
        except Exception as exc:  # noqa: BLE001
            return _json({"error": f"prediction failed: {type(exc).__name__}"}, 500)
        return _json({"predictions": predictions, "model_version": service.version})

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    return app
