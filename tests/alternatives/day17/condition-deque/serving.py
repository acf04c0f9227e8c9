"""The day-03 model server, answered through a micro-batcher, with a cache and backpressure."""

from __future__ import annotations

import logging
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
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
MiB = 1024 * 1024
RESULT_TIMEOUT_S = 30


class InvalidInput(ValueError):
    pass


def _number(name: str, value: Any, *, whole: bool, minimum: float, strict_min: bool = False) -> float | int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a bool ({value!r})")
    if isinstance(value, (int, float)):
        number = value
    else:
        try:
            number = float(str(value).strip())
        except (ValueError, OverflowError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    try:
        finite = math.isfinite(number)
    except OverflowError:  # an int beyond a float's range is not finite either
        finite = False
    if not finite:
        raise ValueError(f"{name} must be finite, got {value!r}")
    if whole:
        if float(number) != int(number):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        number = int(number)
    if number < minimum or (strict_min and number <= minimum):
        raise ValueError(f"{name} must be {'>' if strict_min else '>='} {minimum}, got {value!r}")
    return number


class Settings:
    def __init__(self, config: Mapping[str, Any] | None) -> None:
        self.config = dict(config or {})

    def raw(self, name: str) -> Any:
        value = self.config[name] if name in self.config else os.environ.get(name)
        return None if value is None or value == "" else value

    def number(self, name: str, default, **kwargs):
        value = self.raw(name)
        return default if value is None else _number(name, value, **kwargs)


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

    def take(self) -> float:
        """0 when a token was taken, else the seconds until the next one."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not a number")


def _finite_number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a number is too large") from None
    if not math.isfinite(number):
        raise InvalidInput("numbers must be finite")
    return number


def parse_rows(body: bytes) -> tuple[tuple[float, ...], ...]:
    import json

    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body should be an object with a "features" list')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput('"features" should be a non-empty list')
    rows = features if all(isinstance(row, list) for row in features) else [features]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be a list of 4 numbers")
        parsed.append(tuple(_finite_number(v) for v in row))
    return tuple(parsed)


def read_body(stream, limit: int = MiB) -> bytes:
    """The whole body, read in pieces; more than `limit` bytes (limit + 1 are read to know) is a 413."""
    body = bytearray()
    while len(body) <= limit:
        piece = stream.read(limit + 1 - len(body))
        if not piece:
            return bytes(body)
        body += piece
    raise RequestEntityTooLarge(f"the body is over {limit} bytes")


def error(message: str, status: int, **headers) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    for key, value in headers.items():
        response.headers[key.replace("_", "-")] = value
    return response


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    settings = Settings(config)
    version = str(settings.raw("MODEL_VERSION") or "unversioned")
    max_batch_size = settings.number("MAX_BATCH_SIZE", 32, whole=True, minimum=1)
    max_wait_ms = settings.number("MAX_WAIT_MS", 5, whole=False, minimum=0)
    max_queue = settings.number("MAX_QUEUE", 256, whole=True, minimum=1)
    cache_size = settings.number("CACHE_SIZE", 1024, whole=True, minimum=0)
    rate = settings.number("RATE_LIMIT", None, whole=False, minimum=0, strict_min=True)
    bucket = None
    if rate is not None:
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT is too small, the wait for a token would be infinite: {rate!r}")
        burst = settings.number("RATE_BURST", max(1.0, rate), whole=False, minimum=1)
        bucket = TokenBucket(rate, burst, clock)

    if model is None:
        path = settings.raw("MODEL_PATH")
        try:
            import skops.io

            model = skops.io.load(path) if path else None
        except Exception:  # noqa: BLE001 - not ready, never a crash
            log.exception("could not load the model from %s", path)
            model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # a chunked stream stops one byte past 1 MiB; read_body tells
    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for a model call", registry=registry)
    cache = LRUCache(cache_size)

    batcher = None
    if model is not None:
        def predict_batch(items: list) -> list:
            queue_depth.dec(len(items))
            batch_size.observe(len(items))
            rows = [row for item in items for row in item]
            out = np.asarray(model.predict(np.asarray(rows, dtype=float))).tolist()
            answers, start = [], 0
            for item in items:
                answers.append(out[start:start + len(item)])
                start += len(item)
            return answers

        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.before_request
    def rate_limit():
        if bucket is None or request.method != "POST" or request.path != "/predict":
            return None
        wait = bucket.take()
        if wait > 0:
            return error("rate limit exceeded", 429, Retry_After=str(max(1, math.ceil(wait))))
        return None

    @app.after_request
    def count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.description or exc.name, exc.code or 500)

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if batcher is None:
            return jsonify({"status": "not ready"}), 503
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        body = read_body(request.stream)
        if batcher is None:
            return error("no model is loaded", 503)
        try:
            rows = parse_rows(body)
        except InvalidInput as exc:
            return error(str(exc), 400)
        cached = cache.get(rows)
        if cached is not None:
            return jsonify(cached)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error("the server is busy, retry later", 429, Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return error("the server is shutting down", 503)
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the model failed: 503, never a 500
            log.warning("model call failed: %r", exc)
            return error("the model could not answer", 503)
        answer = {"predictions": predictions, "model_version": version}
        cache.put(rows, answer)
        return jsonify(answer)

    return app
