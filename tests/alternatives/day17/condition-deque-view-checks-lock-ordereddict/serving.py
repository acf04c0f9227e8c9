from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

MiB = 1024 * 1024
RESULT_TIMEOUT_S = 30


class InvalidInput(ValueError):
    pass


def _number(name: str, raw: Any, *, whole: bool, minimum: float, default):
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {raw!r}")
    if whole:
        if value != int(value):
            raise ValueError(f"{name} must be a whole number, got {raw!r}")
        return int(value)
    return value


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def parse_rows(body: bytes) -> tuple[tuple[float, ...], ...]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body should be a JSON object with 'features'")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' should be a non-empty list")
    rows = [features] if not isinstance(features[0], list) else features
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be a list of 4 numbers")
        values = []
        for x in row:
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float)):
                raise InvalidInput("every feature should be a number")
            try:
                f = float(x)
            except OverflowError:
                raise InvalidInput("a feature is too large") from None
            if not math.isfinite(f):
                raise InvalidInput("every feature should be finite")
            values.append(f)
        parsed.append(tuple(values))
    return tuple(parsed)


class _AnswerCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        if not self.size:
            return None
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key, value) -> None:
        if not self.size:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class _Bucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """None when a token was taken, else the seconds until the next whole token."""
        with self._lock:
            now = self.clock()
            if now > self.stamp:
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return (1 - self.tokens) / self.rate


def _load_model(path: str | None):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - no model: not ready
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    names = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE",
             "CACHE_SIZE", "RATE_LIMIT", "RATE_BURST")
    settings = {name: os.environ.get(name) for name in names}
    settings.update(dict(config or {}))

    def text(name):
        value = settings.get(name)
        return None if value is None or value == "" else str(value)

    max_batch_size = _number("MAX_BATCH_SIZE", settings.get("MAX_BATCH_SIZE"), whole=True, minimum=1, default=32)
    max_wait_ms = _number("MAX_WAIT_MS", settings.get("MAX_WAIT_MS"), whole=False, minimum=0, default=5.0)
    max_queue = _number("MAX_QUEUE", settings.get("MAX_QUEUE"), whole=True, minimum=1, default=256)
    cache_size = _number("CACHE_SIZE", settings.get("CACHE_SIZE"), whole=True, minimum=0, default=1024)
    rate = settings.get("RATE_LIMIT")
    bucket = None
    if not (rate is None or (isinstance(rate, str) and rate.strip() == "")):
        rate = _number("RATE_LIMIT", rate, whole=False, minimum=0, default=None)
        if rate <= 0:
            raise ValueError("RATE_LIMIT must be > 0")
        if 1 / rate == math.inf:
            raise ValueError("RATE_LIMIT is too small: one token would take longer than a float can say")
        burst = _number("RATE_BURST", settings.get("RATE_BURST"), whole=False, minimum=1, default=max(1.0, rate))
        bucket = _Bucket(rate, burst, clock)

    version = text("MODEL_VERSION") or "unversioned"
    if model is None:
        path = text("MODEL_PATH")
        if path is None and text("MODEL_URI"):
            uri = text("MODEL_URI")
            path = uri[len("file://"):] if uri.startswith("file://") else uri
        model = _load_model(path)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # get_data() stops here on a chunked body: the view checks
    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_sizes = Histogram("model_batch_size", "Requests per model call", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet in a model call", registry=registry)
    cache = _AnswerCache(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_sizes.observe(len(items))
        rows = [row for item in items for row in item]
        out = np.asarray(model.predict(np.asarray(rows, dtype=float))).tolist()
        answers, start = [], 0
        for item in items:
            answers.append(out[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(status, message, **headers):
        response = jsonify({"error": message})
        response.status_code = status
        for key, value in headers.items():
            response.headers[key.replace("_", "-")] = value
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code, exc.description or exc.name)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify({"status": "not ready"}), 503
        return jsonify({"status": "ready"})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait is not None:
                return error(429, "rate limit exceeded", Retry_After=str(max(1, math.ceil(wait))))
        body = request.get_data()
        if len(body) > MiB:
            return error(413, "body over 1 MiB")
        if model is None:
            return error(503, "no model is loaded")
        try:
            rows = parse_rows(body)
        except InvalidInput as exc:
            return error(400, str(exc))
        hit = cache.get(rows)
        if hit is not None:
            return jsonify({"predictions": hit, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "the server is busy", Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001
            return error(503, f"the model failed: {exc}")
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
