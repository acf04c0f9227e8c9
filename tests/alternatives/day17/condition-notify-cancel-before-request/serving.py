"""The day-03 model server grown for load: micro-batching, an answer cache, backpressure."""

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
from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

MAX_BODY = 1024 * 1024
RESULT_TIMEOUT_S = 30


class BadInput(ValueError):
    pass


def _setting(config: Mapping[str, Any], name: str) -> Any:
    value = config[name] if name in config else os.environ.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value


def _number(config, name, default, *, minimum, whole=False, strict=False):
    value = _setting(config, name)
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, str) else value
        number = float(number)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < minimum or (strict and number == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    if whole:
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


class LRUCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken, else the whole seconds until the next one (at least 1)."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            return max(1, math.ceil((1 - self.tokens) / self.rate))


def _reject_constant(name):
    raise BadInput(f"{name} is not a number")


def _number_cell(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float)):
        raise BadInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise BadInput("a number is too large") from None
    if not math.isfinite(number):
        raise BadInput("numbers must be finite")
    return number


def _row(values) -> tuple[float, ...]:
    if not isinstance(values, list) or len(values) != 4:
        raise BadInput("every row must be a list of 4 numbers")
    return tuple(_number_cell(v) for v in values)


def read_limited(stream, limit: int = MAX_BODY) -> bytes:
    """Read until the body ends, stopping at limit + 1 bytes; a body over the limit is a 413."""
    parts: list[bytes] = []
    got = 0
    while got <= limit and (part := stream.read(limit + 1 - got)):
        parts.append(part)
        got += len(part)
    if got > limit:
        raise RequestEntityTooLarge(f"body over {limit} bytes")
    return b"".join(parts)


def parse_rows(body: bytes) -> tuple[tuple[float, ...], ...]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise BadInput("features must be a non-empty list")
    if isinstance(features[0], list):
        return tuple(_row(r) for r in features)
    return (_row(features),)


def _load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - any broken, missing or untrusted file means "no model"
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    """The model server: day 03's contract, answered through a micro-batcher."""
    config = dict(config or {})
    max_batch_size = _number(config, "MAX_BATCH_SIZE", 32, minimum=1, whole=True)
    max_wait_ms = _number(config, "MAX_WAIT_MS", 5.0, minimum=0)
    max_queue = _number(config, "MAX_QUEUE", 256, minimum=1, whole=True)
    cache_size = _number(config, "CACHE_SIZE", 1024, minimum=0, whole=True)
    rate_limit = _number(config, "RATE_LIMIT", None, minimum=0, strict=True)
    bucket = None
    if rate_limit is not None:
        if not math.isfinite(1 / rate_limit):
            raise ValueError(f"RATE_LIMIT is so small that a token would never come, got {rate_limit!r}")
        burst = _number(config, "RATE_BURST", max(1.0, rate_limit), minimum=1)
        bucket = TokenBucket(rate_limit, burst, clock)
    version = _setting(config, "MODEL_VERSION")
    version = "unversioned" if version is None else str(version)
    if model is None:
        model = _load_model(_setting(config, "MODEL_PATH"))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1  # chunked: the stream ends one byte past the limit
    registry = CollectorRegistry()
    requests_total = Counter("model_requests", "Answered requests.", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency.", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call.", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet handed to the model.",
                        registry=registry)
    cache = LRUCache(cache_size)

    def predict_batch(items: list) -> list:
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = np.asarray(model.predict(np.asarray(rows, dtype=float))).tolist()
        if len(predictions) != len(rows):
            raise ValueError("the model gave a wrong number of predictions")
        answers, start = [], 0
        for item in items:
            answers.append(predictions[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(status: int, message: str, headers=None):
        response = jsonify({"error": message})
        response.status_code = status
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @app.before_request
    def start_and_limit():
        g.started = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.path == "/predict":
            wait_s = bucket.take()
            if wait_s:
                return error(429, "rate limit exceeded", {"Retry-After": str(wait_s)})
        return None

    @app.after_request
    def count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            requests_total.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if batcher is None:
            return error(503, "no model loaded")
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.post("/predict")
    def predict():
        if batcher is None:
            return error(503, "no model loaded")
        try:
            rows = parse_rows(read_limited(request.stream))
        except BadInput as exc:
            return error(400, str(exc))
        cached = cache.get(rows)
        if cached is not None:
            return jsonify({"predictions": cached, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "the server is busy", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a failed model call or a timeout
            return error(503, "the model could not answer")
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
