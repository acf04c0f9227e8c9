"""The model server, batched, cached and rate limited."""

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


class _Unset:
    pass


def _number(name, raw):
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    return value


def _whole(name, raw, minimum):
    value = _number(name, raw)
    if not value.is_integer():
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {raw!r}")
    return int(value)


class Settings:
    def __init__(self, config):
        self.config = dict(config or {})

    def raw(self, name):
        value = self.config[name] if name in self.config else os.environ.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
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
        """(True, 0) with a token taken, else (False, whole seconds to wait)."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True, 0
            return False, max(1, math.ceil((1 - self.tokens) / self.rate))


class BadRequest(Exception):
    pass


def _parse_rows(body: bytes):
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise BadRequest("the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("the body should be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise BadRequest("'features' should be a non-empty list")
    rows = [features] if not isinstance(features[0], list) else features
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("every row should be a list of 4 numbers")
        values = []
        for v in row:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float)):
                raise BadRequest("features must be numbers")
            try:
                f = float(v)
            except OverflowError as exc:
                raise BadRequest("feature out of range") from exc
            if not math.isfinite(f):
                raise BadRequest("features must be finite")
            values.append(f)
        parsed.append(tuple(values))
    return tuple(parsed)


def _load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - no model, not ready
        return None


def create_app(config=None, *, model=None, clock=time.monotonic):
    settings = Settings(config)

    def whole(name, default, minimum):
        raw = settings.raw(name)
        return default if raw is None else _whole(name, raw, minimum)

    max_batch_size = whole("MAX_BATCH_SIZE", 32, 1)
    raw_wait = settings.raw("MAX_WAIT_MS")
    max_wait_ms = 5.0 if raw_wait is None else _number("MAX_WAIT_MS", raw_wait)
    if max_wait_ms < 0:
        raise ValueError("MAX_WAIT_MS must be >= 0")
    max_queue = whole("MAX_QUEUE", 256, 1)
    cache_size = whole("CACHE_SIZE", 1024, 0)
    bucket = None
    raw_rate = settings.raw("RATE_LIMIT")
    if raw_rate is not None:
        rate = _number("RATE_LIMIT", raw_rate)
        if rate <= 0:
            raise ValueError("RATE_LIMIT must be > 0")
        if math.isinf(1 / rate):
            raise ValueError("RATE_LIMIT is too small: the wait for one token is not a finite number")
        raw_burst = settings.raw("RATE_BURST")
        burst = max(1.0, rate) if raw_burst is None else _number("RATE_BURST", raw_burst)
        if burst < 1:
            raise ValueError("RATE_BURST must be >= 1")
        bucket = TokenBucket(rate, burst, clock)
    version = settings.raw("MODEL_VERSION")
    version = "unknown" if version is None else str(version)
    if model is None:
        model = _load_model(settings.raw("MODEL_PATH"))

    app = Flask(__name__)
    # One byte over 1 MiB: a larger Content-Length is refused unread, and on a chunked body (no
    # Content-Length) get_data() stops after MiB + 1 bytes, so the view can tell "more than 1 MiB".
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1
    registry = CollectorRegistry()
    requests_total = Counter("model_requests", "Requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call",
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry)
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = LRUCache(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = model.predict(np.asarray(rows, dtype=float)).tolist()
        answers, start = [], 0
        for item in items:
            answers.append(out[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(status, message, **headers):
        response = jsonify({"error": message})
        response.status_code = status
        for k, v in headers.items():
            response.headers[k.replace("_", "-")] = v
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code, exc.description or exc.name)

    @app.before_request
    def before():
        g.start = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.path == "/predict":
            ok, wait = bucket.take()
            if not ok:
                return error(429, "rate limit exceeded", Retry_After=str(wait))
        return None

    @app.after_request
    def after(response):
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if rule != "/metrics":
            requests_total.labels(endpoint=rule, status=str(response.status_code)).inc()
            latency.labels(endpoint=rule).observe(time.perf_counter() - g.get("start", time.perf_counter()))
        return response

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
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        body = request.get_data(cache=False)
        if len(body) > MiB:
            return error(413, "body over 1 MiB")
        if model is None:
            return error(503, "no model loaded")
        try:
            rows = _parse_rows(body)
        except BadRequest as exc:
            return error(400, str(exc))
        hit = cache.get(rows)
        if hit is not None:
            return jsonify(hit)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "too many requests waiting", Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001 - the model failed
            return error(503, "the model failed")
        answer = {"predictions": predictions, "model_version": version}
        cache.put(rows, answer)
        return jsonify(answer)

    return app
