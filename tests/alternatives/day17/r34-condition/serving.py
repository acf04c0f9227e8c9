"""Day 17 server: OrderedDict LRU, token bucket in the view, Flask MAX_CONTENT_LENGTH."""
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
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

MiB = 1024 * 1024


def _number(name, raw, default, minimum, whole, strict_min=False):
    if raw is None or (isinstance(raw, str) and raw == ""):
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool: {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name} must be a number, got {raw!r}") from error
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if value < minimum or (strict_min and value == minimum):
        raise ValueError(f"{name} must be {'>' if strict_min else '>='} {minimum}, got {raw!r}")
    if whole:
        if not value.is_integer():
            raise ValueError(f"{name} must be a whole number, got {raw!r}")
        return int(value)
    return value


class LRU:
    def __init__(self, size):
        self.size = size
        self.data = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key not in self.data:
                return None
            self.data.move_to_end(key)
            return self.data[key]

    def put(self, key, value):
        if self.size == 0:
            return
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()
        self.lock = threading.Lock()

    def take(self):
        """None when a token was taken, else the whole seconds to wait."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return max(1, math.ceil((1 - self.tokens) / self.rate))


def _parse(body: bytes):
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("body is not JSON")
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise ValueError("features must be a non-empty list")
    if all(not isinstance(x, list) for x in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise ValueError("every row must hold 4 numbers")
        out = []
        for x in row:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise ValueError("features must be numbers")
            try:
                f = float(x)
            except OverflowError:
                raise ValueError("feature out of range")
            if not math.isfinite(f):
                raise ValueError("features must be finite")
            out.append(f)
        rows.append(tuple(out))
    return tuple(rows)


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = dict(config or {})

    def setting(name):
        if name in config:
            return config[name]
        return os.environ.get(name)

    max_batch = _number("MAX_BATCH_SIZE", setting("MAX_BATCH_SIZE"), 32, 1, True)
    max_wait_ms = _number("MAX_WAIT_MS", setting("MAX_WAIT_MS"), 5.0, 0, False)
    max_queue = _number("MAX_QUEUE", setting("MAX_QUEUE"), 256, 1, True)
    cache_size = _number("CACHE_SIZE", setting("CACHE_SIZE"), 1024, 0, True)
    rate = _number("RATE_LIMIT", setting("RATE_LIMIT"), None, 0, False, strict_min=True)
    bucket = None
    if rate is not None:
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT is too small for a finite wait between tokens, got {rate!r}")
        burst = _number("RATE_BURST", setting("RATE_BURST"), max(1.0, rate), 1, False)
        bucket = TokenBucket(rate, burst, clock)
    version = setting("MODEL_VERSION")
    version = "unknown" if version is None or version == "" else str(version)

    if model is None:
        path = setting("MODEL_PATH") or "model.skops"
        try:
            import skops.io

            model = skops.io.load(path)
        except Exception:  # noqa: BLE001
            model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # one past: a longer body shows itself
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = LRU(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        out, start = [], 0
        for item in items:
            out.append(predictions[start:start + len(item)])
            start += len(item)
        return out

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch, max_wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    @app.before_request
    def _start():
        g.start = time.perf_counter()

    @app.after_request
    def _count(response):
        if request.path == "/metrics" and request.url_rule is not None:
            return response
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests_total.labels(endpoint, str(response.status_code)).inc()
        latency.labels(endpoint).observe(time.perf_counter() - g.get("start", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error):
        return jsonify(error=error.description or error.name), error.code

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready"), 503
        return jsonify(status="ready")

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait is not None:
                response = jsonify(error="rate limit exceeded")
                response.headers["Retry-After"] = str(wait)
                return response, 429
        body = request.get_data(cache=False)
        if len(body) > MiB:
            return jsonify(error="body over 1 MiB"), 413
        try:
            rows = _parse(body)
        except ValueError as error:
            return jsonify(error=str(error)), 400
        if model is None:
            return jsonify(error="no model loaded"), 503
        hit = cache.get(rows)
        if hit is not None:
            return jsonify(predictions=hit, model_version=version)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            response = jsonify(error="server busy, queue full")
            response.headers["Retry-After"] = "1"
            return response, 429
        except RuntimeError:
            queue_depth.dec()
            return jsonify(error="server shutting down"), 503
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            future.cancel()
            return jsonify(error="model failed"), 503
        cache.put(rows, predictions)
        return jsonify(predictions=predictions, model_version=version)

    return app
