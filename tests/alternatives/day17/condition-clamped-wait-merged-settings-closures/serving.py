"""The day-03 server behind a micro-batcher, an LRU cache and a token bucket."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

MiB = 1024 * 1024


class InvalidInput(Exception):
    pass


NAMES = ("MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "CACHE_SIZE",
         "RATE_LIMIT", "RATE_BURST")


def _raw(settings, name):
    value = settings.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value


def _number(name, value):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got a bool")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _whole(name, value, default, minimum):
    if value is None:
        return default
    number = _number(name, value)
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(number)


def _real(name, value, default, minimum, strictly=False):
    if value is None:
        return default
    number = _number(name, value)
    if number < minimum or (strictly and number == minimum):
        raise ValueError(f"{name} must be {'>' if strictly else '>='} {minimum}, got {value!r}")
    return number


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def parse_rows(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("features"), list) or not data["features"]:
        raise InvalidInput('body must be {"features": [[f, f, f, f], ...]}')
    features = data["features"]
    rows = [features] if not any(isinstance(x, list) for x in features) else features
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("each row must be a list of 4 numbers")
        values = []
        for v in row:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float)):
                raise InvalidInput("features must be numbers")
            try:
                f = float(v)
            except OverflowError:
                raise InvalidInput("a feature is too large") from None
            if not math.isfinite(f):
                raise InvalidInput("features must be finite")
            values.append(f)
        parsed.append(tuple(values))
    return tuple(parsed)


class LRU:
    def __init__(self, size):
        self.size = size
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        if self.size == 0:
            return None
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
        """None when a token was taken, else the seconds until the next one."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return min((1 - self.tokens) / self.rate, threading.TIMEOUT_MAX)


def _load(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - no model: not ready
        return None


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = {name: os.environ.get(name) for name in NAMES} | dict(config or {})
    max_batch = _whole("MAX_BATCH_SIZE", _raw(config, "MAX_BATCH_SIZE"), 32, 1)
    max_wait_ms = _real("MAX_WAIT_MS", _raw(config, "MAX_WAIT_MS"), 5.0, 0)
    max_queue = _whole("MAX_QUEUE", _raw(config, "MAX_QUEUE"), 256, 1)
    cache_size = _whole("CACHE_SIZE", _raw(config, "CACHE_SIZE"), 1024, 0)
    rate = _raw(config, "RATE_LIMIT")
    bucket = None
    if rate is not None:
        rate = _real("RATE_LIMIT", rate, None, 0, strictly=True)
        burst = _real("RATE_BURST", _raw(config, "RATE_BURST"), max(1.0, rate), 1)
        bucket = TokenBucket(rate, burst, clock)
    version = _raw(config, "MODEL_VERSION")
    version = "unknown" if version is None else str(version)
    if model is None:
        model = _load(_raw(config, "MODEL_PATH"))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # chunked bodies: the stream stops one byte past 1 MiB
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting", registry=registry)
    cache = LRU(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = model.predict(np.asarray(rows, dtype=float)).tolist()
        if len(out) != len(rows):
            raise ValueError("the model answered the wrong number of rows")
        answers, start = [], 0
        for item in items:
            answers.append(out[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch, max_wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    def error(status, message, headers=None):
        answer = jsonify({"error": message})
        answer.status_code = status
        for k, v in (headers or {}).items():
            answer.headers[k] = v
        return answer

    @app.before_request
    def start_and_limit():
        g.start = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.url_rule is not None \
                and request.url_rule.rule == "/predict":
            wait = bucket.take()
            if wait is not None:
                return error(429, "rate limit exceeded", {"Retry-After": str(max(1, math.ceil(wait)))})
        return None

    @app.after_request
    def count(answer):
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if endpoint != "/metrics":
            requests_total.labels(endpoint, str(answer.status_code)).inc()
            if "start" in g:
                latency.labels(endpoint).observe(time.perf_counter() - g.start)
        return answer

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code or 500, exc.description or exc.name)

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return error(503, "no model loaded")
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    def body_or_none():
        """The body, or None when more than 1 MiB came (at most 1 MiB + 1 bytes are read)."""
        body = b""
        while len(body) <= MiB:
            more = request.stream.read(MiB + 1 - len(body))
            if not more:
                return body
            body += more
        return None

    @app.post("/predict")
    def predict():
        if model is None:
            return error(503, "no model loaded")
        body = body_or_none()
        if body is None:
            return error(413, "body over 1 MiB")
        try:
            rows = parse_rows(body)
        except InvalidInput as exc:
            return error(400, str(exc))
        key = rows
        cached = cache.get(key)
        if cached is not None:
            return jsonify({"predictions": cached, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "too many requests waiting", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return error(503, "the model failed")
        cache.put(key, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
