"""Day-03 server grown for load: micro-batching, LRU cache, token bucket, metrics."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from batcher import MicroBatcher, QueueFull

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
RESULT_TIMEOUT_S = 60.0


class InvalidInput(ValueError):
    pass


def _setting(config: Mapping[str, Any], name: str):
    value = config.get(name)
    if value is None or (isinstance(value, str) and value == ""):
        value = os.environ.get(name)
        if value == "":
            value = None
    return value


def _number(name: str, value: Any, *, default, minimum: float, whole: bool, strict: bool = False):
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if whole and not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if number < minimum or (strict and number == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return int(number) if whole else number


class LRUCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        if self.size == 0:
            return None
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = clock()
        self._lock = threading.Lock()

    def take(self) -> int:
        """0 when a token was taken, else the whole seconds to wait."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            return max(1, math.ceil((1 - self.tokens) / self.rate))


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not JSON")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_rows(body: bytes) -> tuple:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' must be a non-empty list")
    if all(isinstance(row, list) for row in features):
        rows = features
    elif not any(isinstance(row, list) for row in features):
        rows = [features]
    else:
        raise InvalidInput("'features' mixes rows and numbers")
    out = []
    for row in rows:
        if len(row) != 4 or not all(_is_number(v) for v in row):
            raise InvalidInput("every row must be 4 numbers")
        try:
            floats = tuple(float(v) for v in row)
        except OverflowError as exc:
            raise InvalidInput("number out of range") from exc
        if not all(math.isfinite(v) for v in floats):
            raise InvalidInput("numbers must be finite")
        out.append(floats)
    return tuple(out)


def read_body() -> bytes:
    stream = request.stream
    chunks, total = [], 0
    while total <= MAX_BODY:
        chunk = stream.read(MAX_BODY + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_BODY:
        raise RequestEntityTooLarge("body over 1 MiB")
    return b"".join(chunks)


def _load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001
        log.exception("could not load model from %r", path)
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = dict(config or {})
    max_batch_size = _number("MAX_BATCH_SIZE", _setting(config, "MAX_BATCH_SIZE"), default=32, minimum=1, whole=True)
    max_wait_ms = _number("MAX_WAIT_MS", _setting(config, "MAX_WAIT_MS"), default=5.0, minimum=0, whole=False)
    max_queue = _number("MAX_QUEUE", _setting(config, "MAX_QUEUE"), default=256, minimum=1, whole=True)
    cache_size = _number("CACHE_SIZE", _setting(config, "CACHE_SIZE"), default=1024, minimum=0, whole=True)
    rate = _number("RATE_LIMIT", _setting(config, "RATE_LIMIT"), default=None, minimum=0, whole=False, strict=True)
    bucket = None
    if rate is not None:
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT {rate!r} is too small")
        burst = _number("RATE_BURST", _setting(config, "RATE_BURST"), default=max(1.0, rate), minimum=1, whole=False)
        bucket = TokenBucket(rate, burst, clock)
    version = _setting(config, "MODEL_VERSION")
    version = "unknown" if version is None else str(version)

    if model is None:
        model = _load_model(_setting(config, "MODEL_PATH"))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1
    cache = LRUCache(cache_size)

    registry = CollectorRegistry()
    requests_total = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call",
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry)
    queue_depth = Gauge("model_queue_depth", "Requests submitted, not yet in a model call", registry=registry)

    def predict_batch(items: list) -> list:
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = np.asarray(model.predict(np.asarray(rows, dtype=float))).tolist()
        if len(predictions) != len(rows):
            raise ValueError("model returned the wrong number of predictions")
        answers, start = [], 0
        for item in items:
            answers.append(predictions[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    def error(status: int, message: str, headers=None):
        response = jsonify({"error": message})
        response.status_code = status
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = error(exc.code or 500, exc.description or exc.name)
        if exc.code == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(InvalidInput)
    def invalid(exc: InvalidInput):
        return error(400, str(exc))

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        log.exception("unhandled error")
        return error(500, "internal server error")

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            requests_total.labels(endpoint, str(response.status_code)).inc()
            started = g.get("started")
            if started is not None:
                latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return error(503, "model not loaded")
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait:
                return error(429, "rate limit exceeded", {"Retry-After": str(wait)})
        if model is None or batcher is None:
            return error(503, "model not loaded")
        rows = parse_rows(read_body())
        cached = cache.get(rows)
        if cached is not None:
            return jsonify(cached)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "queue full", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return error(503, "server shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception:  # noqa: BLE001
            future.cancel()
            log.exception("model call failed")
            return error(503, "model call failed")
        body = {"predictions": predictions, "model_version": version}
        cache.put(rows, body)
        return jsonify(body)

    return app
