"""The day-03 model server grown for load: micro-batching, an LRU cache, backpressure."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
MiB = 1024 * 1024
RESULT_TIMEOUT_S = 30


class InvalidInput(ValueError):
    pass


def _setting(name: str, config: Mapping[str, Any]):
    value = config[name] if name in config else os.environ.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _number(name: str, raw, default, *, whole: bool, minimum: float, above: bool = False):
    if raw is None:
        return default
    if isinstance(raw, (np.integer, np.floating)):  # NumPy numbers are numbers too
        raw = raw.item()
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be a number, not a bool")
    if isinstance(raw, (int, float)):
        value = raw
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None
    else:
        raise ValueError(f"{name} must be a number, got {raw!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if whole:
        if value != int(value):
            raise ValueError(f"{name} must be a whole number, got {raw!r}")
        value = int(value)
    if value < minimum or (above and value == minimum):
        raise ValueError(f"{name} is out of range: {raw!r}")
    return value


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def parse_rows(body: bytes) -> tuple[tuple[float, ...], ...]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("features"), list) or not data["features"]:
        raise InvalidInput('the body should be an object with a non-empty "features" list')
    features = data["features"]
    rows = [features] if not isinstance(features[0], list) else features
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be a list of 4 numbers")
        values = []
        for x in row:
            if isinstance(x, (np.integer, np.floating)):  # NumPy numbers are numbers too
                x = x.item()
            if isinstance(x, bool) or not isinstance(x, (int, float)):
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
        self._lock = threading.Lock()
        self._tokens = burst
        self._last = clock()

    def take(self) -> int | None:
        """None when a token was taken, else the whole seconds until the next one."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return max(1, math.ceil((1 - self._tokens) / self.rate))


def _error(status: int, message: str, **headers) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    for key, value in headers.items():
        response.headers[key.replace("_", "-")] = value
    return response


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = dict(config or {})
    max_batch_size = _number("MAX_BATCH_SIZE", _setting("MAX_BATCH_SIZE", config), 32, whole=True, minimum=1)
    max_wait_ms = _number("MAX_WAIT_MS", _setting("MAX_WAIT_MS", config), 5, whole=False, minimum=0)
    max_queue = _number("MAX_QUEUE", _setting("MAX_QUEUE", config), 256, whole=True, minimum=1)
    cache_size = _number("CACHE_SIZE", _setting("CACHE_SIZE", config), 1024, whole=True, minimum=0)
    rate_limit = _number("RATE_LIMIT", _setting("RATE_LIMIT", config), None, whole=False, minimum=0, above=True)
    bucket = None
    if rate_limit is not None:
        if not math.isfinite(1 / rate_limit):
            raise ValueError(f"RATE_LIMIT is too small: a token would take forever, got {rate_limit!r}")
        burst = _number("RATE_BURST", _setting("RATE_BURST", config), max(1, rate_limit), whole=False, minimum=1)
        bucket = TokenBucket(rate_limit, burst, clock)
    version = _setting("MODEL_VERSION", config)
    version = str(version) if version is not None else "unversioned"

    if model is None:
        path = _setting("MODEL_PATH", config)
        if path is None:
            uri = _setting("MODEL_URI", config)
            path = uri.removeprefix("file://") if uri else None
        if path:
            try:
                import skops.io

                model = skops.io.load(path)
            except Exception:  # noqa: BLE001 - a broken model leaves the server not ready
                log.exception("could not load the model from %s", path)
                model = None

    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet handed to the model",
                        registry=registry)

    app = Flask(__name__)
    # get_data() stops at this limit without an error on a chunked body: one byte past 1 MiB, so a body
    # that went on past 1 MiB comes back longer than 1 MiB.
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1
    cache = LRUCache(cache_size)

    batcher = None
    if model is not None:
        served = model

        def predict_batch(items):
            queue_depth.dec(len(items))
            batch_size.observe(len(items))
            rows = [row for item in items for row in item]
            out = np.asarray(served.predict(np.asarray(rows, dtype=float))).tolist()
            answers, start = [], 0
            for item in items:
                answers.append(out[start:start + len(item)])
                start += len(item)
            return answers

        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    @app.before_request
    def start_and_limit():
        g.started = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.path == "/predict":
            wait = bucket.take()
            if wait is not None:
                return _error(429, "rate limit exceeded", Retry_After=str(wait))
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
        return _error(exc.code or 500, exc.description or exc.name)

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
        if batcher is None:
            return _error(503, "no model is loaded")
        try:
            body = request.get_data()
            if len(body) > MiB:
                return _error(413, "the body is over 1 MiB")
            rows = parse_rows(body)
        except InvalidInput as exc:
            return _error(400, str(exc))
        hit = cache.get(rows)
        if hit is not None:
            return jsonify(hit)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return _error(429, "the server is busy", Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return _error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except FutureTimeout:
            return _error(503, "the model did not answer in time")
        except Exception as exc:  # noqa: BLE001 - the model's failure
            log.warning("model call failed: %r", exc)
            return _error(503, "the model failed")
        body = {"predictions": predictions, "model_version": version}
        cache.put(rows, body)
        return jsonify(body)

    return app
