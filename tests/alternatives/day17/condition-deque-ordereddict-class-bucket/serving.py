"""Model server with micro-batching, an LRU cache and backpressure."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

MiB = 1024 * 1024
NAMES = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE",
         "CACHE_SIZE", "RATE_LIMIT", "RATE_BURST")


class InvalidInput(Exception):
    pass


def _number(name, value, default, minimum, whole, strict=False):
    if value is None or value == "":
        return default
    if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
        value = value.item()
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a bool")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except (ValueError, OverflowError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond a float's range is not finite
            raise ValueError(f"{name} must be finite, got {value!r}") from None
    else:
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if (number <= minimum) if strict else (number < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    if whole:
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


def _reject(constant):
    raise InvalidInput(f"{constant} is not a finite number")


def read_at_most(stream, limit):
    """At most limit bytes of the stream, or None when it holds more (limit + 1 bytes are read to know)."""
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(limit + 1 - len(data))
        if not chunk:
            return bytes(data)
        data.extend(chunk)
    return None


def parse_rows(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise InvalidInput(f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput("body must be an object with a 'features' list")
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' must be a non-empty list")
    if all(not isinstance(value, list) for value in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row must be a list of 4 numbers")
        out = []
        for value in row:
            if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInput("every feature must be a number")
            try:
                number = float(value)
            except OverflowError:
                raise InvalidInput("a feature is too large") from None
            if not math.isfinite(number):
                raise InvalidInput("every feature must be finite")
            out.append(number)
        rows.append(tuple(out))
    return tuple(rows)


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
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = clock()
        self._lock = threading.Lock()

    def take(self):
        """None when a token was taken, else the whole seconds to wait."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return max(1, math.ceil((1 - self.tokens) / self.rate))


def _load_model(settings):
    import skops.io

    path = settings.get("MODEL_PATH")
    if not path:
        uri = settings.get("MODEL_URI")
        if not uri:
            return None
        path = uri[len("file://"):] if uri.startswith("file://") else uri
    try:
        return skops.io.load(path)
    except Exception:  # noqa: BLE001
        return None


def create_app(config=None, *, model=None, clock=time.monotonic):
    settings = {name: os.environ.get(name) for name in NAMES}
    settings.update(dict(config or {}))
    max_batch_size = _number("MAX_BATCH_SIZE", settings.get("MAX_BATCH_SIZE"), 32, 1, True)
    max_wait_ms = _number("MAX_WAIT_MS", settings.get("MAX_WAIT_MS"), 5.0, 0, False)
    max_queue = _number("MAX_QUEUE", settings.get("MAX_QUEUE"), 256, 1, True)
    cache_size = _number("CACHE_SIZE", settings.get("CACHE_SIZE"), 1024, 0, True)
    rate = _number("RATE_LIMIT", settings.get("RATE_LIMIT"), None, 0, False, strict=True)
    bucket = None
    if rate is not None:
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT must be large enough for a finite wait per token, got {rate!r}")
        burst = _number("RATE_BURST", settings.get("RATE_BURST"), max(1.0, rate), 1, False)
        bucket = TokenBucket(rate, burst, clock)
    version = settings.get("MODEL_VERSION") or "unknown"
    version = str(version)

    if model is None:
        model = _load_model(settings)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # a chunked stream ends one byte past 1 MiB
    registry = CollectorRegistry()
    answered = Counter("model_requests", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    batch_sizes = Histogram("model_batch_size", "Requests per model call", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = LRUCache(cache_size)

    batcher = None
    if model is not None:
        def predict_batch(items):
            queue_depth.dec(len(items))
            batch_sizes.observe(len(items))
            rows = [row for item in items for row in item]
            predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
            out, start = [], 0
            for item in items:
                out.append(predictions[start:start + len(item)])
                start += len(item)
            return out

        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(status, message, headers=None):
        response = jsonify({"error": message})
        response.status_code = status
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @app.before_request
    def start():
        g.started = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.url_rule is not None \
                and request.url_rule.rule == "/predict":
            wait = bucket.take()
            if wait is not None:
                return error(429, "rate limit exceeded", {"Retry-After": str(wait)})
        return None

    @app.after_request
    def count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code or 500, exc.description or exc.name)

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify({"status": "not ready"}), 503
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.post("/predict")
    def predict():
        if batcher is None:
            return error(503, "no model loaded")
        body = read_at_most(request.stream, MiB)
        if body is None:
            return error(413, "body over 1 MiB")
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
            return error(429, "queue full", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return error(503, "server shutting down")
        try:
            predictions = future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001
            return error(503, f"model call failed: {type(exc).__name__}")
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
