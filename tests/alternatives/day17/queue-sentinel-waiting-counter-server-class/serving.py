"""Day 17 server as a class: settings table, dict-based LRU, token bucket object."""
from __future__ import annotations

import json
import math
import os
import threading
import time

import numpy as np
import skops.io
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException


def answer(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


class BadRequest(Exception):
    pass


class Settings:
    # name: (default, minimum, whole, minimum is exclusive)
    TABLE = {
        "MAX_BATCH_SIZE": (32, 1, True, False),
        "MAX_WAIT_MS": (5, 0, False, False),
        "MAX_QUEUE": (256, 1, True, False),
        "CACHE_SIZE": (1024, 0, True, False),
        "RATE_LIMIT": (None, 0, False, True),
        "RATE_BURST": (None, 1, False, False),
    }

    def __init__(self, config):
        self.config = dict(config or {})

    def raw(self, name):
        value = self.config[name] if name in self.config else os.environ.get(name)
        return None if value is None or value == "" else value

    def number(self, name):
        default, minimum, whole, exclusive = self.TABLE[name]
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name}: a bool is not a number")
        try:
            x = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"{name}: not a number ({value!r})") from exc
        if math.isnan(x) or math.isinf(x):
            raise ValueError(f"{name}: not finite")
        if x < minimum or (exclusive and x == minimum):
            raise ValueError(f"{name}: too small ({value!r})")
        if whole:
            if x != int(x):
                raise ValueError(f"{name}: not a whole number")
            return int(x)
        return x


class LRU:
    def __init__(self, size: int):
        self.size = size
        self.data: dict = {}
        self.lock = threading.RLock()

    def get(self, key):
        with self.lock:
            if key not in self.data:
                return None
            value = self.data.pop(key)
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


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()
        self.lock = threading.Lock()

    def take(self) -> int:
        """0 if a token was taken, else whole seconds until the next one."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + self.rate * (now - self.last))
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            missing = 1 - self.tokens
            return max(1, math.ceil(missing / self.rate))


def _not_a_constant(name):
    raise BadRequest(f"{name} is not allowed")


def _row(values):
    if type(values) is not list or len(values) != 4:
        raise BadRequest("a row is a list of 4 numbers")
    out = []
    for v in values:
        if type(v) not in (int, float):
            raise BadRequest("features are numbers")
        try:
            f = float(v)
        except OverflowError:
            raise BadRequest("number out of range") from None
        if not math.isfinite(f):
            raise BadRequest("features are finite")
        out.append(f)
    return tuple(out)


def parse(body: bytes):
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_not_a_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest("not JSON") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequest("features must be a non-empty list")
    if all(type(v) is not list for v in features):
        return (_row(features),)
    return tuple(_row(r) for r in features)


class Server:
    def __init__(self, config, model, clock):
        s = Settings(config)
        self.max_batch = s.number("MAX_BATCH_SIZE")
        self.max_wait_ms = s.number("MAX_WAIT_MS")
        self.max_queue = s.number("MAX_QUEUE")
        self.cache = LRU(s.number("CACHE_SIZE"))
        rate = s.number("RATE_LIMIT")
        self.bucket = None
        if rate is not None:
            if math.isinf(1 / rate):
                raise ValueError(f"RATE_LIMIT: too small, the wait for a token is infinite ({rate!r})")
            burst = s.number("RATE_BURST")
            self.bucket = TokenBucket(rate, burst if burst is not None else max(1, rate), clock)
        self.version = str(s.raw("MODEL_VERSION") or "dev")
        self.model = model if model is not None else self._load(s.raw("MODEL_PATH"))

        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "answers", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=self.registry)
        self.batch_sizes = Histogram("model_batch_size", "requests per call", registry=self.registry,
                                     buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
        self._entered = 0
        self._left = 0
        self._count_lock = threading.Lock()
        Gauge("model_queue_depth", "waiting requests", registry=self.registry).set_function(self._depth)
        self.batcher = None
        if self.model is not None:
            self.batcher = MicroBatcher(self._predict_batch, self.max_batch, self.max_wait_ms / 1000.0,
                                        self.max_queue)

    def _depth(self) -> float:
        with self._count_lock:
            return self._entered - self._left

    def _leave(self, n: int) -> None:
        with self._count_lock:
            self._left += n

    @staticmethod
    def _load(path):
        if not path:
            return None
        try:
            return skops.io.load(path)
        except Exception:  # noqa: BLE001
            return None

    def _predict_batch(self, requests_rows):
        self._leave(len(requests_rows))
        self.batch_sizes.observe(len(requests_rows))
        counts = [len(rows) for rows in requests_rows]
        X = np.array([row for rows in requests_rows for row in rows], dtype=np.float64)
        flat = list(np.asarray(self.model.predict(X)).tolist())
        bounds = np.cumsum([0, *counts]).tolist()
        return [flat[a:b] for a, b in zip(bounds, bounds[1:])]

    @staticmethod
    def body(limit=1 << 20):
        """The request body, or None when more than `limit` bytes came (reads at most limit + 1)."""
        data = b""
        while len(data) <= limit:
            more = request.stream.read(limit + 1 - len(data))
            if not more:
                return data
            data += more
        return None

    def predict(self):
        if self.model is None:
            return answer(503, {"error": "model not loaded"})
        body = self.body()
        if body is None:
            return answer(413, {"error": "Request Entity Too Large"})
        try:
            rows = parse(body)
        except BadRequest as exc:
            return answer(400, {"error": str(exc)})
        cached = self.cache.get(rows)
        if cached is not None:
            return answer(200, {"predictions": cached, "model_version": self.version})
        with self._count_lock:
            self._entered += 1
        try:
            future = self.batcher.submit(rows)
        except (QueueFull, RuntimeError) as exc:
            self._leave(1)
            if isinstance(exc, QueueFull):
                return answer(429, {"error": "too many requests waiting"}, {"Retry-After": "1"})
            return answer(503, {"error": "shutting down"})
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return answer(503, {"error": "the model failed"})
        self.cache.put(rows, predictions)
        return answer(200, {"predictions": predictions, "model_version": self.version})


def create_app(config=None, *, model=None, clock=time.monotonic) -> Flask:
    server = Server(config, model, clock)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1  # a chunked stream ends one byte past 1 MiB: see body()
    if server.batcher is not None:
        app.extensions["batcher"] = server.batcher

    @app.before_request
    def gate():
        request.environ["day17.started"] = time.perf_counter()
        if server.bucket is not None and request.method == "POST" and request.path == "/predict":
            wait_s = server.bucket.take()
            if wait_s:
                return answer(429, {"error": "rate limited"}, {"Retry-After": str(wait_s)})
        return None

    @app.after_request
    def record(response):
        if request.path == "/metrics":
            return response
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        server.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        started = request.environ.get("day17.started", time.perf_counter())
        server.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return answer(exc.code or 500, {"error": exc.name})

    app.add_url_rule("/predict", "predict", server.predict, methods=["POST"])
    app.add_url_rule("/health", "health", lambda: answer(200, {"status": "ok", "model_version": server.version}))
    app.add_url_rule("/ready", "ready", lambda: answer(200, {"status": "ready"}) if server.model is not None
                     else answer(503, {"error": "no model"}))
    app.add_url_rule("/metrics", "metrics",
                     lambda: Response(generate_latest(server.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}))
    return app
