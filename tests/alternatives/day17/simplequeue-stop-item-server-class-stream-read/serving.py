"""Model server: one object holds the settings, the model, the cache, the bucket and the metrics."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from numbers import Real

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20

# name: (default, minimum, whole, minimum excluded)
SPEC = {
    "MAX_BATCH_SIZE": (32, 1, True, False),
    "MAX_WAIT_MS": (5, 0, False, False),
    "MAX_QUEUE": (256, 1, True, False),
    "CACHE_SIZE": (1024, 0, True, False),
    "RATE_LIMIT": (None, 0, False, True),
    "RATE_BURST": (None, 1, False, False),
}


class Refusal(Exception):
    def __init__(self, status, message, retry_after=None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def lookup(config, name):
    value = (config or {}).get(name) if name in (config or {}) else os.environ.get(name)
    return None if value is None or value == "" else value


def setting(config, name):
    default, low, whole, exclusive = SPEC[name]
    raw = lookup(config, name)
    if raw is None:
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name}: a bool is not a number")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: {raw!r} is not finite")
    if value < low or (exclusive and value <= low):
        raise ValueError(f"{name}: {raw!r} is below its minimum {low}")
    if whole:
        if value != int(value):
            raise ValueError(f"{name}: {raw!r} is not a whole number")
        return int(value)
    return value


def finite_number(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def parse(body: bytes):
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Refusal(400, "the body is not JSON") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or len(features) == 0:
        raise Refusal(400, "expected a non-empty 'features' list")
    if all(not isinstance(x, list) for x in features):
        features = [features]
    key = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise Refusal(400, "every row holds exactly 4 numbers")
        numbers = [finite_number(v) for v in row]
        if None in numbers:
            raise Refusal(400, "features are finite numbers")
        key.append(tuple(numbers))
    return tuple(key)


class AnswerCache:
    """LRU on a plain dict (insertion ordered): a hit is popped and put back at the end."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: dict = {}
        self._lock = threading.Lock()

    def fetch(self, key):
        with self._lock:
            try:
                value = self._entries.pop(key)
            except KeyError:
                return None
            self._entries[key] = value
            return value

    def store(self, key, value):
        if self.capacity <= 0:
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                del self._entries[next(iter(self._entries))]


class Bucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._level, self._at = burst, None
        self._lock = threading.Lock()

    def acquire(self):
        with self._lock:
            now = self.clock()
            if self._at is not None:
                self._level = min(self.burst, self._level + (now - self._at) * self.rate)
            self._at = now
            if self._level >= 1:
                self._level -= 1
                return
            ready_at = now + (1 - self._level) / self.rate
            raise Refusal(429, "rate limited", max(1, math.ceil(ready_at - now)))


class Server:
    def __init__(self, config, model, clock):
        self.max_batch_size = setting(config, "MAX_BATCH_SIZE")
        self.max_wait_ms = setting(config, "MAX_WAIT_MS")
        self.max_queue = setting(config, "MAX_QUEUE")
        self.cache = AnswerCache(setting(config, "CACHE_SIZE"))
        self.bucket = None
        rate = setting(config, "RATE_LIMIT")
        if rate is not None:
            if math.isinf(1 / rate):
                raise ValueError(f"RATE_LIMIT: {rate!r} is too small, the wait for a token is not finite")
            burst = setting(config, "RATE_BURST")
            self.bucket = Bucket(rate, max(1.0, rate) if burst is None else burst, clock)
        self.version = str(lookup(config, "MODEL_VERSION") or "0.0.0-unversioned")
        self.model = model if model is not None else self._load(lookup(config, "MODEL_PATH"))
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "answers", ("endpoint", "status"), registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "latency", ("endpoint",), registry=self.registry)
        self.batch_sizes = Histogram("model_batch_size", "requests per model call", registry=self.registry,
                                     buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64))
        self._pending = 0
        self._pending_lock = threading.Lock()
        Gauge("model_queue_depth", "requests waiting for the model",
              registry=self.registry).set_function(lambda: self._pending)
        self.batcher = None
        if self.model is not None:
            self.batcher = MicroBatcher(self.run_batch, self.max_batch_size, self.max_wait_ms / 1000,
                                        self.max_queue)

    @staticmethod
    def _load(path):
        if path is None:
            return None
        try:
            import skops.io

            return skops.io.load(path, trusted=None)
        except Exception:  # noqa: BLE001
            return None

    def _pend(self, delta):
        with self._pending_lock:
            self._pending += delta

    def run_batch(self, items):
        self._pend(-len(items))
        self.batch_sizes.observe(len(items))
        flat = np.array([row for rows in items for row in rows], dtype=np.float64)
        predictions = self.model.predict(flat).tolist()
        bounds = np.cumsum([0] + [len(rows) for rows in items]).tolist()
        return [predictions[a:b] for a, b in zip(bounds, bounds[1:])]

    def read_body(self):
        data = request.stream.read(LIMIT + 1)
        if len(data) > LIMIT:
            raise Refusal(413, "the body is over 1 MiB")
        return data

    def predict(self):
        if self.bucket is not None:
            self.bucket.acquire()
        if self.model is None:
            raise Refusal(503, "no model")
        if request.content_length is not None and request.content_length > LIMIT:
            raise Refusal(413, "the body is over 1 MiB")
        rows = parse(self.read_body())
        hit = self.cache.fetch(rows)
        if hit is not None:
            return {"predictions": hit, "model_version": self.version}
        self._pend(+1)
        try:
            future = self.batcher.submit(rows)
        except QueueFull:
            self._pend(-1)
            raise Refusal(429, "queue full", 1) from None
        except RuntimeError:
            self._pend(-1)
            raise Refusal(503, "shutting down") from None
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            raise Refusal(503, "the model call failed") from None
        self.cache.store(rows, predictions)
        return {"predictions": predictions, "model_version": self.version}


def create_app(config=None, *, model=None, clock=time.monotonic):
    server = Server(config, model, clock)
    app = Flask(__name__)
    if server.batcher is not None:
        app.extensions["batcher"] = server.batcher

    def answer(body, status=200, headers=None):
        return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")

    @app.errorhandler(Refusal)
    def refused(exc):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return answer({"error": exc.message}, exc.status, headers)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return answer({"error": exc.description or exc.name}, exc.code or 500)

    @app.before_request
    def started():
        request.environ["day17.start"] = time.perf_counter()

    @app.after_request
    def observe(response):
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        if endpoint == "/metrics":
            return response
        server.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        began = request.environ.get("day17.start")
        if began is not None:
            server.latency.labels(endpoint=endpoint).observe(time.perf_counter() - began)
        return response

    app.add_url_rule("/health", "health",
                     lambda: answer({"status": "ok", "model_version": server.version}))
    app.add_url_rule("/ready", "ready",
                     lambda: answer({"ready": True}) if server.model is not None else answer({"ready": False}, 503))
    app.add_url_rule("/metrics", "metrics",
                     lambda: Response(generate_latest(server.registry), mimetype="text/plain; version=0.0.4"))
    app.add_url_rule("/predict", "predict", lambda: answer(server.predict()), methods=["POST"])
    return app
