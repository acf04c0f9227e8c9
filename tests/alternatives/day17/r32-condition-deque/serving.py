"""Day 17 server: day 03's contract, a micro-batcher, an LRU cache, a token bucket."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from batcher import MicroBatcher, QueueFull

MiB = 1024 * 1024
SETTINGS = ("MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "CACHE_SIZE",
            "RATE_LIMIT", "RATE_BURST")


class BadRequest(Exception):
    pass


def _raw(config, name):
    if name in config:
        value = config[name]
    else:
        value = os.environ.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value


def _number(name, value, *, whole=False, minimum=None, above=None):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool: {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if whole and not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if above is not None and number <= above:
        raise ValueError(f"{name} must be > {above}, got {value!r}")
    return int(number) if whole else number


def _setting(config, name, default, **checks):
    value = _raw(config, name)
    return default if value is None else _number(name, value, **checks)


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
    def __init__(self, rate: float, burst: float, clock) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()
        self._lock = threading.Lock()

    def take(self):
        """None when a token was taken, else the whole seconds until the next one."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return max(1, math.ceil((1 - self.tokens) / self.rate))


def _load(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - a missing or broken file leaves the server not ready
        return None


def _read_limited(stream, limit=MiB):
    buf = bytearray()
    while len(buf) <= limit:
        chunk = stream.read(limit + 1 - len(buf))
        if not chunk:
            break
        buf += chunk
    if len(buf) > limit:  # only limit + 1 bytes were read to know
        raise RequestEntityTooLarge("body over 1 MiB")
    return bytes(buf)


def _parse(data: bytes):
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body should be a JSON object")
    features = body.get("features")
    if not isinstance(features, list) or not features:
        raise BadRequest("'features' should be a non-empty list")
    rows = features if any(isinstance(x, list) for x in features) else [features]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("every row should hold 4 numbers")
        out = []
        for x in row:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise BadRequest("features should be numbers")
            try:
                value = float(x)
            except OverflowError:
                raise BadRequest("a feature is too large") from None
            if not math.isfinite(value):
                raise BadRequest("features should be finite")
            out.append(value)
        parsed.append(tuple(out))
    return tuple(parsed)


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = dict(config or {})
    version = _raw(config, "MODEL_VERSION")
    version = "unknown" if version is None else str(version)
    max_batch_size = _setting(config, "MAX_BATCH_SIZE", 32, whole=True, minimum=1)
    max_wait_ms = _setting(config, "MAX_WAIT_MS", 5.0, minimum=0)
    max_queue = _setting(config, "MAX_QUEUE", 256, whole=True, minimum=1)
    cache_size = _setting(config, "CACHE_SIZE", 1024, whole=True, minimum=0)
    rate = _setting(config, "RATE_LIMIT", None, above=0)
    if rate is not None and math.isinf(1 / rate):
        raise ValueError(f"RATE_LIMIT is too small: the wait for a token overflows a float, got {rate!r}")
    burst = _setting(config, "RATE_BURST", max(1.0, rate), minimum=1) if rate is not None else None

    if model is None:
        model = _load(_raw(config, "MODEL_PATH"))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # a chunked stream ends one byte past 1 MiB
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call",
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry)
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = LRUCache(cache_size)
    bucket = TokenBucket(rate, burst, clock) if rate is not None else None

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = model.predict(np.asarray(rows, dtype=float))
        out = out.tolist() if hasattr(out, "tolist") else list(out)
        if len(out) != len(rows):
            raise ValueError("the model returned a wrong number of predictions")
        answers, start = [], 0
        for item in items:
            answers.append(out[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(message, code):
        return jsonify({"error": message}), code

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()
        if (bucket is not None and request.method == "POST" and request.url_rule is not None
                and request.url_rule.rule == "/predict"):
            wait = bucket.take()
            if wait is not None:
                response = jsonify({"error": "rate limit exceeded"})
                response.status_code = 429
                response.headers["Retry-After"] = str(wait)
                return response
        return None

    @app.after_request
    def record(response):
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if endpoint != "/metrics":
            requests_total.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        response = exc.get_response()
        response.data = json.dumps({"error": exc.description or exc.name})
        response.content_type = "application/json"
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return error("no model loaded", 503)
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if model is None:
            return error("no model loaded", 503)
        data = _read_limited(request.stream)
        try:
            rows = _parse(data)
        except BadRequest as exc:
            return error(str(exc), 400)
        cached = cache.get(rows)
        if cached is not None:
            return jsonify({"predictions": cached, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            response, code = error("too many requests waiting", 429)
            response.headers["Retry-After"] = "1"
            return response, code
        except RuntimeError:
            queue_depth.dec()
            return error("the server is shutting down", 503)
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            future.cancel()
            return error("the model failed", 503)
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
