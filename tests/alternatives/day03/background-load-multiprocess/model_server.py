"""Model server, style B: background loading, a validator class, Flask signals for metrics,
prometheus multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set."""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

from flask import Flask, jsonify, request, request_finished, request_started, g
from werkzeug.exceptions import HTTPException

logger = logging.getLogger("model_server")
ONE_MIB = 1 << 20


class BadRequestBody(Exception):
    """Raised by RowValidator; the app answers it with 400."""


class RowValidator:
    width = 4

    def __call__(self, payload):
        if type(payload) is not dict:
            raise BadRequestBody("expected a JSON object")
        features = payload.get("features")
        if type(features) is not list or len(features) == 0:
            raise BadRequestBody("'features' must be a non-empty list")
        if all(type(item) is not list for item in features):
            features = [features]
        return [self._row(number, row) for number, row in enumerate(features)]

    def _row(self, number, row):
        if type(row) is not list or len(row) != self.width:
            raise BadRequestBody(f"row {number}: expected {self.width} numbers")
        values = []
        for cell in row:
            if type(cell) not in (int, float):
                raise BadRequestBody(f"row {number}: {cell!r} is not a number")
            try:
                as_float = float(cell)
            except OverflowError:
                raise BadRequestBody(f"row {number}: number out of range") from None
            if not math.isfinite(as_float):
                raise BadRequestBody(f"row {number}: numbers must be finite")
            values.append(as_float)
        return values


class ModelHolder:
    def __init__(self, path):
        self.model = None
        self.failed = False
        self._thread = threading.Thread(target=self._load, args=(path,), daemon=True)
        self._thread.start()

    def _load(self, path):
        try:
            if path is None:
                raise FileNotFoundError("no model configured")
            import skops.io

            self.model = skops.io.load(path)
        except Exception:
            logger.exception("model could not be loaded")
            self.failed = True


def _resolve(config):
    merged = dict(os.environ)
    merged.update(config or {})
    path = merged.get("MODEL_PATH")
    if not path and merged.get("MODEL_URI"):
        try:
            parsed = urlparse(merged["MODEL_URI"])
        except ValueError:  # a URI that cannot be parsed (file://[bad/...) names no model
            return None, merged.get("MODEL_VERSION") or "0+unknown"
        path = unquote(parsed.path) if parsed.scheme == "file" and parsed.netloc in ("", "localhost") else None
    return path, merged.get("MODEL_VERSION") or "0+unknown"


def _metrics(app):
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared_dir:
        os.makedirs(shared_dir, exist_ok=True)
        from prometheus_client import multiprocess

        scrape_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape_registry)
    else:
        scrape_registry = registry
    count = Counter("model_requests_total", "answered requests", ("endpoint", "status"), registry=registry)
    seconds = Histogram("model_request_latency_seconds", "time to answer", ("endpoint",), registry=registry)

    def started(sender, **extra):
        g.t0 = time.monotonic()

    def finished(sender, response, **extra):
        if request.path == "/metrics":
            return
        route = request.url_rule.rule if request.url_rule else "unmatched"
        count.labels(endpoint=route, status=str(response.status_code)).inc()
        seconds.labels(endpoint=route).observe(time.monotonic() - g.get("t0", time.monotonic()))

    request_started.connect(started, app, weak=False)
    request_finished.connect(finished, app, weak=False)
    return scrape_registry


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    path, version = _resolve(config)
    holder = ModelHolder(path)
    validate = RowValidator()
    app = Flask("model_server")
    # One byte over the limit: a chunked body (no Content-Length) then stops at ONE_MIB + 1,
    # and predict can tell a body of exactly 1 MiB from a longer one.
    app.config.update(MAX_CONTENT_LENGTH=ONE_MIB + 1)
    scrape_registry = _metrics(app)

    def fail(code, message):
        return jsonify({"error": message}), code

    app.register_error_handler(HTTPException, lambda exc: fail(exc.code, exc.name))
    app.register_error_handler(BadRequestBody, lambda exc: fail(400, str(exc)))

    def health():
        return {"status": "ok", "model_version": version}

    def ready():
        if holder.model is None:
            return fail(503, "model failed to load" if holder.failed else "model loading")
        return {"status": "ready"}

    def predict():
        model = holder.model
        if model is None:
            return fail(503, "model not available")
        if len(request.get_data()) > ONE_MIB:  # cached: get_json below parses the same bytes
            return fail(413, "body over 1 MiB")
        import json

        def not_json(constant):  # NaN and Infinity are not JSON, wherever in the body they sit
            raise ValueError(f"{constant} is not JSON")

        try:
            payload = json.loads(request.get_data(), parse_constant=not_json)
        except (ValueError, RecursionError):
            payload = None
        if payload is None:
            raise BadRequestBody("body is not JSON")
        rows = validate(payload)
        return {"predictions": [p.item() if hasattr(p, "item") else p for p in model.predict(rows)],
                "model_version": version}

    def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(scrape_registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])
    app.add_url_rule("/metrics", view_func=metrics, methods=["GET"])
    return app
