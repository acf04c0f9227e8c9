"""Day 17 server: day 03's contract through a micro-batcher, with an LRU cache and backpressure."""

from __future__ import annotations

import json
import math
import numbers
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

MiB = 1024 * 1024
ANSWER_TIMEOUT_S = 30.0


def _raw(config: Mapping[str, Any], name: str):
    value = config.get(name) if name in config else None
    if value is None or (isinstance(value, str) and value.strip() == ""):
        value = os.environ.get(name)
        if value is not None and value.strip() == "":
            value = None
    return value


def _number(name: str, value, *, minimum: float, whole: bool, strict_min: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool: {value!r}")
    try:
        if isinstance(value, str):
            number = float(value.strip())
        elif isinstance(value, (numbers.Number, np.generic)):
            number = float(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < minimum or (strict_min and number <= minimum):
        raise ValueError(f"{name} must be {'>' if strict_min else '>='} {minimum}, got {value!r}")
    if whole and not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return number


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
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """None when a token was taken, else the whole seconds until the next one."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            wait = (1 - self.tokens) / self.rate
            if not math.isfinite(wait):
                return 2**31
            return max(1, math.ceil(wait))


class BadRequest(Exception):
    pass


def _parse_rows(data: bytes):
    try:
        body = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError, OverflowError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict) or "features" not in body:
        raise BadRequest('the body must be a JSON object with a "features" list')
    features = body["features"]
    if not isinstance(features, list) or not features:
        raise BadRequest('"features" must be a non-empty list')
    if not isinstance(features[0], list):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("every row must be a list of 4 numbers")
        out = []
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest("every feature must be a number")
            try:
                number = float(value)
            except OverflowError:
                raise BadRequest("a feature is out of range") from None
            if not math.isfinite(number):
                raise BadRequest("every feature must be finite")
            out.append(number)
        rows.append(tuple(out))
    return tuple(rows)


def _read_body(limit: int = MiB) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise TooLarge()
    stream = request.stream
    chunks, got = [], 0
    while got <= limit:
        chunk = stream.read(limit + 1 - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got > limit:
        raise TooLarge()
    return b"".join(chunks)


class TooLarge(Exception):
    pass


def _error(status: int, message: str, headers: dict | None = None):
    response = jsonify({"error": message})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = dict(config or {})
    max_batch_size = int(_number("MAX_BATCH_SIZE", v, minimum=1, whole=True)) if (v := _raw(config, "MAX_BATCH_SIZE")) is not None else 32
    max_wait_ms = _number("MAX_WAIT_MS", v, minimum=0, whole=False) if (v := _raw(config, "MAX_WAIT_MS")) is not None else 5.0
    max_queue = int(_number("MAX_QUEUE", v, minimum=1, whole=True)) if (v := _raw(config, "MAX_QUEUE")) is not None else 256
    cache_size = int(_number("CACHE_SIZE", v, minimum=0, whole=True)) if (v := _raw(config, "CACHE_SIZE")) is not None else 1024
    rate = _raw(config, "RATE_LIMIT")
    bucket_args = None
    if rate is not None:
        rate = _number("RATE_LIMIT", rate, minimum=0, whole=False, strict_min=True)
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT {rate!r} is too small: the wait for one token is beyond a float")
        burst = _raw(config, "RATE_BURST")
        burst = _number("RATE_BURST", burst, minimum=1, whole=False) if burst is not None else max(1.0, rate)
        bucket_args = (rate, burst)
    version = _raw(config, "MODEL_VERSION")
    version = "unknown" if version is None else str(version)
    model_path = _raw(config, "MODEL_PATH") or "model.skops"

    if model is None:
        try:
            import skops.io

            model = skops.io.load(str(model_path))
        except Exception:  # noqa: BLE001  a missing, broken or unsafe file: not ready
            model = None

    app = Flask(__name__)
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet in a model call", registry=registry)
    cache = LRUCache(cache_size)
    bucket = TokenBucket(*bucket_args, clock) if bucket_args else None

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = model.predict(np.asarray(rows, dtype=float))
        out = out.tolist() if hasattr(out, "tolist") else list(out)
        answers, start = [], 0
        for item in items:
            answers.append(out[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if endpoint != "/metrics":
            requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error):
        return _error(error.code or 500, error.description or error.name)

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return _error(503, "no model loaded")
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait is not None:
                return _error(429, "rate limit exceeded", {"Retry-After": str(wait)})
        try:
            data = _read_body()
        except TooLarge:
            return _error(413, "the body is over 1 MiB")
        if model is None:
            return _error(503, "no model loaded")
        try:
            rows = _parse_rows(data)
        except BadRequest as error:
            return _error(400, str(error))
        cached = cache.get(rows)
        if cached is not None:
            return jsonify(cached)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return _error(429, "the server is busy", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return _error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=ANSWER_TIMEOUT_S)
        except Exception:  # noqa: BLE001
            return _error(503, "the model failed")
        answer = {"predictions": predictions, "model_version": version}
        cache.put(rows, answer)
        return jsonify(answer)

    return app
