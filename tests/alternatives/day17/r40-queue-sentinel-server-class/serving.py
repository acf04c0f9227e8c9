"""Day 17 server as a class: settings parsed into a dataclass, state on a ModelServer object."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20
UNSET = object()


def _lookup(config, name):
    value = config.get(name, UNSET)
    if value is UNSET or value is None or value == "":
        value = os.environ.get(name, "")
    return UNSET if value is None or (isinstance(value, str) and not value.strip()) else value


def _as_float(name, value):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"setting {name}: a bool is not a number ({value!r})")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"setting {name}: {value!r} is not a number") from None
    if not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"setting {name}: {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"setting {name}: {value!r} is not finite")
    return number


@dataclass(frozen=True)
class Settings:
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 256
    cache_size: int = 1024
    rate_limit: float | None = None
    rate_burst: float | None = None
    model_path: str = "model.skops"
    model_version: str = "0.0.0"

    @classmethod
    def read(cls, config) -> "Settings":
        def whole(name, low, default):
            raw = _lookup(config, name)
            if raw is UNSET:
                return default
            number = _as_float(name, raw)
            if number != int(number):
                raise ValueError(f"setting {name}: {raw!r} is not a whole number")
            if number < low:
                raise ValueError(f"setting {name}: {raw!r} is below {low}")
            return int(number)

        def real(name, low, default, above=False):
            raw = _lookup(config, name)
            if raw is UNSET:
                return default
            number = _as_float(name, raw)
            if number < low or (above and number == low):
                raise ValueError(f"setting {name}: {raw!r} is out of range")
            return number

        rate = real("RATE_LIMIT", 0.0, None, above=True)
        if rate is not None and math.isinf(1.0 / rate):
            raise ValueError(f"setting RATE_LIMIT: {rate!r} is too small to wait for one token")
        burst = real("RATE_BURST", 1.0, None) if rate is not None else None
        if rate is not None and burst is None:
            burst = max(1.0, rate)
        path = _lookup(config, "MODEL_PATH")
        version = _lookup(config, "MODEL_VERSION")
        return cls(
            max_batch_size=whole("MAX_BATCH_SIZE", 1, 32),
            max_wait_ms=real("MAX_WAIT_MS", 0.0, 5.0),
            max_queue=whole("MAX_QUEUE", 1, 256),
            cache_size=whole("CACHE_SIZE", 0, 1024),
            rate_limit=rate,
            rate_burst=burst,
            model_path="model.skops" if path is UNSET else str(path),
            model_version="0.0.0" if version is UNSET else str(version),
        )


class Refused(Exception):
    def __init__(self, status, message, retry_after=None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def parse_features(raw: bytes) -> tuple:
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, "body is not valid JSON") from None
    feats = body.get("features") if isinstance(body, dict) else None
    if not isinstance(feats, list) or len(feats) == 0:
        raise Refused(400, "'features' must be a non-empty list")
    rows = feats if all(isinstance(r, list) for r in feats) else [feats]
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or not all(
                type(v) in (int, float) for v in row):
            raise Refused(400, "each row must be 4 numbers")
    try:
        array = np.array(rows, dtype=np.float64)
    except OverflowError:
        raise Refused(400, "a feature is out of range") from None
    if not np.isfinite(array).all():
        raise Refused(400, "features must be finite")
    return tuple(tuple(float(x) for x in r) for r in array.tolist())


class AnswerCache:
    """An LRU on a plain dict (insertion ordered): pop and re-insert on every hit."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.entries: dict = {}
        self.lock = threading.Lock()

    def lookup(self, key):
        with self.lock:
            if key in self.entries:
                value = self.entries.pop(key)
                self.entries[key] = value
                return value
        return None

    def store(self, key, value):
        if not self.capacity:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            while len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


class Bucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.level, self.stamp = burst, clock()
        self.lock = threading.Lock()

    def acquire(self):
        with self.lock:
            now = self.clock()
            if now > self.stamp:
                self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
            self.stamp = max(self.stamp, now)
            if self.level >= 1.0:
                self.level -= 1.0
                return 0
            seconds = (1.0 - self.level) / self.rate
            return max(1, math.ceil(seconds)) if math.isfinite(seconds) else 10**9


def _load(path):
    try:
        import skops.io

        return skops.io.load(path, trusted=None)
    except Exception:  # noqa: BLE001
        return None


class ModelServer:
    def __init__(self, settings: Settings, model, clock):
        self.settings = settings
        self.model = model if model is not None else _load(settings.model_path)
        self.cache = AnswerCache(settings.cache_size)
        self.bucket = Bucket(settings.rate_limit, settings.rate_burst, clock) if settings.rate_limit else None
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=self.registry)
        self.batch_sizes = Histogram("model_batch_size", "Requests per model call", registry=self.registry,
                                     buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128])
        self._pending = 0
        self._pending_lock = threading.Lock()
        depth = Gauge("model_queue_depth", "Requests not yet handed to the model", registry=self.registry)
        depth.set_function(lambda: self._pending)
        self.batcher = None
        if self.model is not None:
            self.batcher = MicroBatcher(self._predict_batch, settings.max_batch_size,
                                        settings.max_wait_ms / 1000.0, settings.max_queue)

    def _bump(self, n):
        with self._pending_lock:
            self._pending += n

    def _predict_batch(self, items):
        self._bump(-len(items))
        self.batch_sizes.observe(len(items))
        counts = [len(item) for item in items]
        flat = np.array([row for item in items for row in item], dtype=float)
        predicted = list(np.asarray(self.model.predict(flat)).tolist())
        bounds = np.cumsum([0] + counts)
        return [predicted[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def read_body(self):
        if (request.content_length or 0) > LIMIT:
            raise Refused(413, "body larger than 1 MiB")
        buf = bytearray()
        while len(buf) <= LIMIT:
            piece = request.stream.read(LIMIT + 1 - len(buf))
            if not piece:
                break
            buf += piece
        if len(buf) > LIMIT:
            raise Refused(413, "body larger than 1 MiB")
        return bytes(buf)

    def predict(self):
        raw = self.read_body()
        if self.model is None:
            raise Refused(503, "model not loaded")
        key = parse_features(raw)
        hit = self.cache.lookup(key)
        if hit is not None:
            return hit
        self._bump(1)
        try:
            future = self.batcher.submit(key)
        except QueueFull:
            self._bump(-1)
            raise Refused(429, "queue full", retry_after=1) from None
        except RuntimeError:
            self._bump(-1)
            raise Refused(503, "shutting down") from None
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            raise Refused(503, "prediction failed") from None
        body = {"predictions": predictions, "model_version": self.settings.model_version}
        self.cache.store(key, body)
        return body

    def build(self) -> Flask:
        app = Flask("day17-serving")
        if self.batcher is not None:
            app.extensions["batcher"] = self.batcher

        def refused(err: Refused):
            response = jsonify({"error": err.message})
            response.status_code = err.status
            if err.retry_after is not None:
                response.headers["Retry-After"] = str(err.retry_after)
            return response

        app.register_error_handler(Refused, refused)
        app.register_error_handler(HTTPException,
                                   lambda e: (jsonify({"error": f"{e.code} {e.name}"}), e.code))

        @app.before_request
        def gate():
            request.environ["day17.t0"] = time.perf_counter()
            rule = request.url_rule
            if self.bucket and rule is not None and rule.rule == "/predict" and request.method == "POST":
                wait = self.bucket.acquire()
                if wait:
                    raise Refused(429, "rate limited", retry_after=wait)

        @app.after_request
        def record(response):
            rule = request.url_rule
            endpoint = rule.rule if rule is not None else "unmatched"
            if endpoint != "/metrics":
                self.requests.labels(endpoint, str(response.status_code)).inc()
                started = request.environ.get("day17.t0", time.perf_counter())
                self.latency.labels(endpoint).observe(time.perf_counter() - started)
            return response

        app.add_url_rule("/health", "health", lambda: {"status": "ok", "model_version": self.settings.model_version})
        app.add_url_rule("/ready", "ready", self.ready)
        app.add_url_rule("/metrics", "metrics",
                         lambda: Response(generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST))
        app.add_url_rule("/predict", "predict", lambda: jsonify(self.predict()), methods=["POST"])
        return app

    def ready(self):
        if self.model is None:
            raise Refused(503, "model not loaded")
        return {"status": "ready", "model_version": self.settings.model_version}


def create_app(config=None, *, model=None, clock=time.monotonic) -> Flask:
    settings = Settings.read(dict(config or {}))
    return ModelServer(settings, model, clock).build()
