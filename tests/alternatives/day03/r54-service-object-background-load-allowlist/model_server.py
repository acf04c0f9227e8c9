"""Day 03 model server (style B: a service object, background loading, explicit dispatch)."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import skops.io
from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20
SETTING_NAMES = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")
DEFAULT_VERSION = "dev"


def _json(payload, status=200):
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class BadRequest400(Exception):
    """Raised while validating a /predict body."""


def read_settings(config: Mapping[str, str] | None) -> dict[str, str]:
    given = dict(config) if config else {}
    out: dict[str, str] = {}
    for name in SETTING_NAMES:
        value = given.get(name) or os.environ.get(name) or ""
        if value != "":
            out[name] = value
    return out


def resolve_model_location(settings: dict[str, str]) -> Path:
    path = settings.get("MODEL_PATH")
    if path:
        return Path(path)
    uri = settings.get("MODEL_URI")
    if not uri:
        raise LookupError("no MODEL_PATH or MODEL_URI configured")
    split = urlsplit(uri)
    if split.scheme.casefold() != "file":
        raise LookupError(f"only file: URIs are supported, got {uri!r}")
    if split.netloc and split.netloc.casefold() != "localhost":
        raise LookupError(f"file URI on a remote host: {uri!r}")
    return Path(unquote(split.path))


class ModelService:
    def __init__(self, settings: dict[str, str]):
        self.version = settings.get("MODEL_VERSION", DEFAULT_VERSION)
        self.model = None
        self.error = "the model is still loading"
        self._settings = dict(settings)
        self._thread = threading.Thread(target=self._load, daemon=True)
        self._thread.start()

    def _load(self):
        try:
            location = resolve_model_location(self._settings)
            model = skops.io.load(location)
        except Exception as exc:  # noqa: BLE001
            self.error = f"the model could not be loaded: {exc}"
            print(self.error, file=sys.stderr)
            return
        self.model = model
        self.error = None

    # --- request validation -------------------------------------------------
    @staticmethod
    def _constant(token):
        raise BadRequest400(f"{token} is not valid JSON")

    @classmethod
    def rows_from(cls, raw: bytes) -> np.ndarray:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest400("the body is not UTF-8 JSON") from None
        try:
            doc = json.loads(text, parse_constant=cls._constant)
        except BadRequest400:
            raise
        except (ValueError, RecursionError):
            raise BadRequest400("the body is not valid JSON") from None
        if type(doc) is not dict:
            raise BadRequest400("expected a JSON object")
        features = doc.get("features")
        if type(features) is not list or len(features) == 0:
            raise BadRequest400("'features' must be a non-empty list")
        kinds = {type(item) is list for item in features}
        if kinds == {False}:
            features = [features]
        elif kinds != {True}:
            raise BadRequest400("'features' must be one row or a list of rows, not a mix")
        matrix = np.empty((len(features), 4), dtype=np.float64)
        for i, row in enumerate(features):
            if type(row) is not list or len(row) != 4:
                raise BadRequest400(f"row {i} must hold exactly 4 numbers")
            for j, cell in enumerate(row):
                if type(cell) not in (int, float):
                    raise BadRequest400(f"row {i} column {j} is not a number")
                try:
                    cell = float(cell)
                except OverflowError:
                    raise BadRequest400(f"row {i} column {j} is too large") from None
                if not math.isfinite(cell):
                    raise BadRequest400(f"row {i} column {j} is not finite")
                matrix[i, j] = cell
        return matrix


def read_limited(stream) -> bytes:
    buf = bytearray()
    while len(buf) <= LIMIT:
        piece = stream.read(min(65536, LIMIT + 1 - len(buf)))
        if not piece:
            break
        buf += piece
    if len(buf) > LIMIT:
        return None
    return bytes(buf)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    service = ModelService(read_settings(config))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests_total", "Requests answered", ("endpoint", "status"), registry=registry)
    seconds = Histogram("model_request_latency_seconds", "Time to answer", ("endpoint",), registry=registry)

    @app.before_request
    def stamp():
        g.t0 = time.monotonic()

    @app.after_request
    def measure(response):
        if request.path == "/metrics":
            return response
        label = request.url_rule.rule if request.url_rule else "unmatched"
        answered.labels(endpoint=label, status=str(response.status_code)).inc()
        seconds.labels(endpoint=label).observe(time.monotonic() - getattr(g, "t0", time.monotonic()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return _json({"error": f"{exc.code} {exc.name}: {exc.description}"}, exc.code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        return _json({"error": "internal server error"}, 500)

    def health():
        return _json({"status": "ok", "model_version": service.version})

    def ready():
        if service.model is None:
            return _json({"error": service.error}, 503)
        return _json({"status": "ready"})

    def predict():
        model = service.model
        if model is None:
            return _json({"error": service.error}, 503)
        raw = read_limited(request.stream)
        if raw is None:
            return _json({"error": "request body larger than 1 MiB"}, 413)
        try:
            matrix = ModelService.rows_from(raw)
        except BadRequest400 as exc:
            return _json({"error": str(exc)}, 400)
        try:
            labels = model.predict(matrix)
        except Exception as exc:  # noqa: BLE001
            return _json({"error": f"prediction failed: {exc}"}, 500)
        return _json({"predictions": np.asarray(labels).tolist(), "model_version": service.version})

    def metrics():
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])
    app.add_url_rule("/metrics", view_func=metrics, methods=["GET"])
    return app
