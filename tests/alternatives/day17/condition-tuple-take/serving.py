"""Model server with micro-batching, an LRU answer cache and backpressure."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

log = logging.getLogger(__name__)
MiB = 1024 * 1024
RESULT_TIMEOUT_S = 30


class InvalidInput(ValueError):
    pass


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def take_body(stream, limit):
    """(True, body) for a body of at most limit bytes, (False, None) for a longer one; reads <= limit + 1."""
    body = b""
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            return True, body
        body += chunk
    return False, None


def parse_rows(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput("body must be an object with a 'features' list")
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' must be a non-empty list")
    rows = [features] if not isinstance(features[0], list) else features
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row must be a list of 4 numbers")
        values = []
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InvalidInput("features must be numbers")
            try:
                f = float(v)
            except OverflowError:
                raise InvalidInput("number too large") from None
            if not math.isfinite(f):
                raise InvalidInput("features must be finite")
            values.append(f)
        parsed.append(tuple(values))
    return tuple(parsed)


def _setting(settings, name, default, *, whole, minimum, strict=False):
    raw = settings.get(name)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be a number, got {raw!r}")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # an int beyond a float's range is not finite
            raise ValueError(f"{name} must be finite, got {raw!r}") from None
    else:
        try:
            value = float(str(raw).strip())
        except (ValueError, OverflowError):
            raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if (value <= minimum) if strict else (value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {raw!r}")
    if whole:
        if not value.is_integer():
            raise ValueError(f"{name} must be a whole number, got {raw!r}")
        return int(value)
    return value


class LRUCache:
    def __init__(self, size):
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

    def put(self, key, value):
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()
        self._lock = threading.Lock()

    def take(self):
        """(True, 0) when a token was taken, else (False, seconds to the next token)."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True, 0
            return False, (1 - self.tokens) / self.rate


def create_app(config=None, *, model=None, clock=time.monotonic):
    names = ("MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "CACHE_SIZE",
             "RATE_LIMIT", "RATE_BURST")
    settings = {name: os.environ.get(name) for name in names}
    settings.update(dict(config or {}))

    max_batch_size = _setting(settings, "MAX_BATCH_SIZE", 32, whole=True, minimum=1)
    max_wait_ms = _setting(settings, "MAX_WAIT_MS", 5.0, whole=False, minimum=0)
    max_queue = _setting(settings, "MAX_QUEUE", 256, whole=True, minimum=1)
    cache_size = _setting(settings, "CACHE_SIZE", 1024, whole=True, minimum=0)
    rate = _setting(settings, "RATE_LIMIT", None, whole=False, minimum=0, strict=True)
    bucket = None
    if rate is not None:
        if math.isinf(1 / rate):
            raise ValueError(f"RATE_LIMIT {rate!r} is too small: 1 / RATE_LIMIT is not finite")
        burst = _setting(settings, "RATE_BURST", max(1.0, rate), whole=False, minimum=1)
        bucket = TokenBucket(rate, burst, clock)
    version = settings.get("MODEL_VERSION") or "unversioned"

    if model is None:
        path = settings.get("MODEL_PATH")
        if path:
            try:
                import skops.io

                model = skops.io.load(path)
            except Exception:  # noqa: BLE001
                log.exception("could not load the model from %s", path)
                model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # a chunked stream stops one byte past 1 MiB

    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = LRUCache(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = np.asarray(model.predict(np.asarray(rows, dtype=float))).tolist()
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
        request.environ["katas.start"] = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.url_rule is not None and request.url_rule.rule == "/metrics":
            return response
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        start = request.environ.get("katas.start")
        if start is not None:
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - start)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        return jsonify(error=exc.description or exc.name), exc.code

    def error(status, message, headers=None):
        response = jsonify(error=message)
        response.status_code = status
        for k, v in (headers or {}).items():
            response.headers[k] = v
        return response

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready"), 503
        return jsonify(status="ready", model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            ok, wait_s = bucket.take()
            if not ok:
                return error(429, "rate limit exceeded", {"Retry-After": str(max(1, math.ceil(wait_s)))})
        if batcher is None:
            return error(503, "no model loaded")
        ok, body = take_body(request.stream, MiB)
        if not ok:
            return error(413, "body over 1 MiB")
        try:
            rows = parse_rows(body)
        except InvalidInput as exc:
            return error(400, str(exc))
        hit = cache.get(rows)
        if hit is not None:
            return jsonify(hit)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "server is busy, retry later", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return error(503, "server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001
            return error(503, f"model call failed: {type(exc).__name__}")
        body = {"predictions": predictions, "model_version": version}
        cache.put(rows, body)
        return jsonify(body)

    return app
