"""Day 17 server: batched, cached, rate limited."""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

MiB = 1024 * 1024


def _raw(cfg: Mapping[str, Any], name: str):
    value = cfg.get(name)
    if value is None or (isinstance(value, str) and value == ""):
        value = os.environ.get(name)
        if value == "":
            value = None
    return value


def _number(name: str, value, *, default, minimum, whole, strict=False):
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < minimum or (strict and number <= minimum):
        raise ValueError(f"{name} is below its minimum {minimum}: {value!r}")
    if whole:
        if number != int(number):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


class LRU:
    def __init__(self, size: int) -> None:
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

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class Bucket:
    def __init__(self, rate: float, burst: float, clock) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = None
        self.lock = threading.Lock()

    def take(self):
        """None when a token was taken, else the whole seconds to wait."""
        with self.lock:
            now = self.clock()
            if self.last is not None and now > self.last:
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            if self.last is None or now > self.last:
                self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            wait = (1 - self.tokens) / self.rate
            return max(1, math.ceil(wait)) if math.isfinite(wait) else 1


def _load(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001
        return None


def _parse_rows(body: bytes):
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, "body is not JSON"
    if not isinstance(data, dict):
        return None, "body must be a JSON object"
    features = data.get("features")
    if not isinstance(features, list) or not features:
        return None, "features must be a non-empty list"
    rows = features if all(isinstance(r, list) for r in features) else [features]
    key = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            return None, "every row must hold 4 numbers"
        out = []
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return None, "features must be numbers"
            try:
                f = float(v)
            except OverflowError:
                return None, "a feature is too large"
            if not math.isfinite(f):
                return None, "features must be finite"
            out.append(f)
        key.append(tuple(out))
    return tuple(key), None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    cfg = dict(config or {})
    max_batch = _number("MAX_BATCH_SIZE", _raw(cfg, "MAX_BATCH_SIZE"), default=32, minimum=1, whole=True)
    max_wait_ms = _number("MAX_WAIT_MS", _raw(cfg, "MAX_WAIT_MS"), default=5.0, minimum=0, whole=False)
    max_queue = _number("MAX_QUEUE", _raw(cfg, "MAX_QUEUE"), default=256, minimum=1, whole=True)
    cache_size = _number("CACHE_SIZE", _raw(cfg, "CACHE_SIZE"), default=1024, minimum=0, whole=True)
    rate = _number("RATE_LIMIT", _raw(cfg, "RATE_LIMIT"), default=None, minimum=0, whole=False, strict=True)
    bucket = None
    if rate is not None:
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT is too small: {rate!r}")
        burst = _number("RATE_BURST", _raw(cfg, "RATE_BURST"), default=max(1.0, rate), minimum=1, whole=False)
        bucket = Bucket(rate, burst, clock)
    version = _raw(cfg, "MODEL_VERSION")
    version = "unknown" if version is None else str(version)

    if model is None:
        path = _raw(cfg, "MODEL_PATH")
        if path is None:
            uri = _raw(cfg, "MODEL_URI")
            if uri is not None and str(uri).startswith("file://"):
                path = str(uri)[len("file://"):]
        model = _load(path)

    app = Flask(__name__)
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = LRU(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = model.predict(np.asarray(rows, dtype=float))
        out = out.tolist() if hasattr(out, "tolist") else list(out)
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

    def error(status: int, message: str, **headers):
        response = jsonify({"error": message})
        response.status_code = status
        for k, v in headers.items():
            response.headers[k.replace("_", "-")] = v
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    @app.before_request
    def start_timer():
        g.start = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path == "/metrics" and request.url_rule is not None:
            return response
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests_total.labels(endpoint, str(response.status_code)).inc()
        latency.labels(endpoint).observe(time.perf_counter() - g.get("start", time.perf_counter()))
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return error(503, "model not loaded")
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait is not None:
                return error(429, "rate limit exceeded", Retry_After=str(wait))
        if request.content_length is not None and request.content_length > MiB:
            return error(413, "body over 1 MiB")
        chunks, total = [], 0
        stream = request.stream
        while total <= MiB:
            chunk = stream.read(MiB + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > MiB:
            return error(413, "body over 1 MiB")
        if model is None:
            return error(503, "model not loaded")
        rows, problem = _parse_rows(b"".join(chunks))
        if problem:
            return error(400, problem)
        cached = cache.get(rows)
        if cached is not None:
            return jsonify(cached)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "queue full", Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return error(503, "server shutting down")
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return error(503, "model call failed")
        body = {"predictions": predictions, "model_version": version}
        cache.put(rows, body)
        return jsonify(body)

    return app
