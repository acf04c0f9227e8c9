"""The model server as a small class: settings, a token bucket and an LRU built on a plain dict."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from decimal import Decimal, InvalidOperation

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from batcher import MicroBatcher, QueueFull

LIMIT = 1 << 20


class Invalid(Exception):
    pass


class Settings:
    def __init__(self, config):
        self._config = dict(config) if config else {}

    def raw(self, name):
        value = self._config.get(name) if name in self._config else os.environ.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return value

    def number(self, name, default, *, whole=False, low=0.0, above=False):
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{name}: not a number: {value!r}")
        try:
            x = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{name}: not a number: {value!r}") from None
        if not x.is_finite() or not math.isfinite(float(x)):
            raise ValueError(f"{name}: must be finite, got {value!r}")
        if whole and x != x.to_integral_value():
            raise ValueError(f"{name}: must be a whole number, got {value!r}")
        if x < Decimal(str(low)) or (above and x == Decimal(str(low))):
            raise ValueError(f"{name}: out of range: {value!r}")
        return int(x) if whole else float(x)


class TokenBucket:
    def __init__(self, rate, capacity, clock):
        self.rate, self.capacity, self.clock = rate, capacity, clock
        self.tokens = capacity
        self.last = clock()
        self.lock = threading.Lock()

    def take(self):
        """(True, 0) when a token was taken, else (False, whole seconds to wait)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + self.rate * (now - self.last))
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True, 0
            return False, max(1, math.ceil((1 - self.tokens) / self.rate))


class LRU:
    """Python dicts keep insertion order: pop and re-insert to refresh."""

    def __init__(self, size):
        self.size = size
        self.data = {}
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            try:
                value = self.data.pop(key)
            except KeyError:
                return None
            self.data[key] = value
            return value

    def put(self, key, value):
        if self.size == 0:
            return
        with self.lock:
            self.data.pop(key, None)
            self.data[key] = value
            while len(self.data) > self.size:
                del self.data[next(iter(self.data))]


def _bad_constant(text):
    raise Invalid(f"{text} is not allowed")


def _feature(v):
    if type(v) not in (int, float):
        raise Invalid("features must be numbers")
    try:
        f = float(v)
    except OverflowError:
        raise Invalid("feature out of range") from None
    if math.isinf(f) or math.isnan(f):
        raise Invalid("features must be finite")
    return f


def rows_of(raw: bytes):
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text, parse_constant=_bad_constant)
    except Invalid:
        raise
    except Exception:  # noqa: BLE001 - any decoding problem is the client's
        raise Invalid("body must be JSON") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if type(feats) is not list or len(feats) == 0:
        raise Invalid("need a non-empty 'features' list")
    if not any(isinstance(x, list) for x in feats):
        feats = [feats]
    out = []
    for row in feats:
        if type(row) is not list or len(row) != 4:
            raise Invalid("each row must hold 4 numbers")
        out.append(tuple(map(_feature, row)))
    return tuple(out)


class ModelServer:
    def __init__(self, config, model, clock):
        s = Settings(config)
        self.max_batch = s.number("MAX_BATCH_SIZE", 32, whole=True, low=1)
        self.wait_ms = s.number("MAX_WAIT_MS", 5.0, low=0)
        self.max_queue = s.number("MAX_QUEUE", 256, whole=True, low=1)
        self.cache = LRU(s.number("CACHE_SIZE", 1024, whole=True, low=0))
        rate = s.number("RATE_LIMIT", None, low=0, above=True)
        self.bucket = None
        if rate is not None:
            if rate == 0.0 or not math.isfinite(1 / rate):  # 1e-330 is above 0 as a Decimal, 0.0 as a float
                raise ValueError(f"RATE_LIMIT: too small, a token's wait is not finite: {rate!r}")
            burst = s.number("RATE_BURST", max(1.0, rate), low=1)
            self.bucket = TokenBucket(rate, burst, clock)
        version = s.raw("MODEL_VERSION")
        self.version = "dev" if version is None else str(version)
        if model is None:
            path = s.raw("MODEL_PATH")
            if path:
                try:
                    import skops.io

                    model = skops.io.load(path, trusted=None)
                except Exception:  # noqa: BLE001
                    model = None
        self.model = model

        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=self.registry)
        self.batch_sizes = Histogram("model_batch_size", "requests per call", registry=self.registry,
                                     buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64])
        self._pending = 0
        self._pending_lock = threading.Lock()
        Gauge("model_queue_depth", "waiting requests", registry=self.registry).set_function(lambda: self._pending)

        self.batcher = None
        if self.model is not None:
            self.batcher = MicroBatcher(self._predict_batch, self.max_batch, self.wait_ms / 1000.0, self.max_queue)

    def _adjust(self, delta):
        with self._pending_lock:
            self._pending += delta

    def _predict_batch(self, items):
        self._adjust(-len(items))
        self.batch_sizes.observe(len(items))
        counts = [len(rows) for rows in items]
        matrix = np.array([row for rows in items for row in rows], dtype=np.float64)
        flat = self.model.predict(matrix).tolist()
        bounds = np.cumsum([0] + counts).tolist()
        return [flat[a:b] for a, b in zip(bounds, bounds[1:])]

    @staticmethod
    def read_body(limit=LIMIT):
        """At most limit + 1 bytes of the body: one more than `limit` came means it is too large (413)."""
        chunks, size = [], 0
        while size <= limit:
            chunk = request.stream.read(limit + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise RequestEntityTooLarge()

    def predict(self):
        if self.bucket is not None:
            ok, wait = self.bucket.take()
            if not ok:
                return jsonify({"error": "rate limit exceeded"}), 429, {"Retry-After": str(wait)}
        if self.model is None:
            return jsonify({"error": "model not loaded"}), 503
        try:
            rows = rows_of(self.read_body())
        except Invalid as problem:
            return jsonify({"error": str(problem)}), 400
        hit = self.cache.get(rows)
        if hit is not None:
            return jsonify({"predictions": hit, "model_version": self.version})
        self._adjust(+1)
        try:
            future = self.batcher.submit(rows)
        except QueueFull:
            self._adjust(-1)
            return jsonify({"error": "server busy"}), 429, {"Retry-After": "1"}
        except RuntimeError:
            self._adjust(-1)
            return jsonify({"error": "server stopping"}), 503
        try:
            predictions = future.result(timeout=25)
        except BaseException:  # noqa: BLE001
            future.cancel()
            return jsonify({"error": "prediction failed"}), 503
        self.cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": self.version})

    def build(self) -> Flask:
        app = Flask("serving")
        app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1  # a chunked stream stops one byte past LIMIT: read_body
        if self.batcher is not None:
            app.extensions["batcher"] = self.batcher

        @app.before_request
        def _t0():
            g.t0 = time.perf_counter()

        @app.after_request
        def _observe(response):
            if request.path == "/metrics":
                return response
            rule = request.url_rule
            endpoint = rule.rule if rule else "unmatched"
            self.requests.labels(endpoint=endpoint, status=response.status_code).inc()
            self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - getattr(g, "t0", time.perf_counter()))
            return response

        @app.errorhandler(HTTPException)
        def _http(e):
            return jsonify({"error": e.name}), e.code

        app.add_url_rule("/health", "health",
                         lambda: jsonify({"status": "ok", "model_version": self.version}))
        app.add_url_rule("/ready", "ready",
                         lambda: (jsonify({"ready": True}), 200) if self.model is not None
                         else (jsonify({"ready": False}), 503))
        app.add_url_rule("/metrics", "metrics",
                         lambda: Response(generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST))
        app.add_url_rule("/predict", "predict", self.predict, methods=["POST"])
        return app


def create_app(config=None, *, model=None, clock=time.monotonic) -> Flask:
    return ModelServer(config, model, clock).build()
