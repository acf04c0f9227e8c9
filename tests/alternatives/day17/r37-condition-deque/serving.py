"""The day-03 server, answering through a micro-batcher, a cache and a token bucket."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from flask import Flask, Response, abort, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

MiB = 1024 * 1024
MISSING = object()


def _number(name, raw):
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool ({raw!r})")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name} must be a number, got {raw!r}") from error
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
        self._config = dict(config or {})

    def raw(self, name):
        value = self._config.get(name, MISSING)
        if value is MISSING:
            value = os.environ.get(name, MISSING)
        if value is MISSING or (isinstance(value, str) and value == ""):
            return MISSING
        return value


class TokenBucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.stamp = clock()
        self.lock = threading.Lock()

    def take(self):
        """None when a token was taken, else the whole seconds until the next one."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return max(1, math.ceil((1 - self.tokens) / self.rate))


class AnswerCache:
    def __init__(self, size):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        if self.size == 0:
            return None
        with self.lock:
            if key not in self.entries:
                return None
            self.entries.move_to_end(key)
            return self.entries[key]

    def put(self, key, value):
        if self.size == 0:
            return
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


class BadRequest(Exception):
    pass


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _parse_rows(body: bytes):
    try:
        payload = json.loads(body.decode("utf-8"))
    except Exception as error:  # noqa: BLE001 - any failure to parse is a bad body
        raise BadRequest(f"the body is not JSON: {type(error).__name__}") from error
    if not isinstance(payload, dict):
        raise BadRequest("the body should be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise BadRequest("'features' should be a non-empty list")
    if all(_is_number(x) for x in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4 or not all(_is_number(x) for x in row):
            raise BadRequest("every row should be 4 numbers")
        try:
            floats = tuple(float(x) for x in row)
        except OverflowError as error:
            raise BadRequest("a feature is out of range") from error
        if not all(math.isfinite(x) for x in floats):
            raise BadRequest("features must be finite")
        rows.append(floats)
    return tuple(rows)


def _read_body():
    if request.content_length is not None and request.content_length > MiB:
        abort(413)
    stream = request.stream
    chunks, total = [], 0
    while total <= MiB:
        chunk = stream.read(MiB + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MiB:
        abort(413)
    return b"".join(chunks)


def _load_model(path):
    import skops.io

    try:
        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - a missing or broken file means no model
        return None


def create_app(config=None, *, model=None, clock=time.monotonic):
    settings = Settings(config)

    def setting(name, parse, default):
        raw = settings.raw(name)
        return default if raw is MISSING else parse(raw)

    max_batch_size = setting("MAX_BATCH_SIZE", lambda r: _whole("MAX_BATCH_SIZE", r, 1), 32)
    max_wait_ms = setting("MAX_WAIT_MS", lambda r: _number_min("MAX_WAIT_MS", r, 0), 5.0)
    max_queue = setting("MAX_QUEUE", lambda r: _whole("MAX_QUEUE", r, 1), 256)
    cache_size = setting("CACHE_SIZE", lambda r: _whole("CACHE_SIZE", r, 0), 1024)
    rate_limit = setting("RATE_LIMIT", lambda r: _positive("RATE_LIMIT", r), None)
    bucket = None
    if rate_limit is not None:
        if math.isinf(1 / rate_limit):
            raise ValueError(f"RATE_LIMIT is too small: a token's wait would be infinite, got {rate_limit!r}")
        burst = setting("RATE_BURST", lambda r: _number_min("RATE_BURST", r, 1), max(1.0, rate_limit))
        bucket = TokenBucket(rate_limit, burst, clock)
    version = settings.raw("MODEL_VERSION")
    version = "unknown" if version is MISSING else str(version)

    if model is None:
        path = settings.raw("MODEL_PATH")
        model = _load_model("model.skops" if path is MISSING else str(path))

    app = Flask(__name__)
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)
    cache = AnswerCache(cache_size)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = model.predict(np.asarray(rows, dtype=float))
        out = out.tolist() if hasattr(out, "tolist") else list(out)
        if len(out) != len(rows):
            raise ValueError(f"the model gave {len(out)} predictions for {len(rows)} rows")
        answers, start = [], 0
        for item in items:
            answers.append(out[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if rule != "/metrics":
            requests_total.labels(rule, str(response.status_code)).inc()
            latency.labels(rule).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error):
        response = jsonify({"error": error.description or error.name})
        response.status_code = error.code
        for key, value in error.get_headers():
            if key.lower() != "content-type":
                response.headers[key] = value
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify({"status": "not ready"}), 503
        return jsonify({"status": "ready"})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait is not None:
                return jsonify({"error": "rate limit exceeded"}), 429, {"Retry-After": str(wait)}
        body = _read_body()
        try:
            rows = _parse_rows(body)
        except BadRequest as error:
            return jsonify({"error": str(error)}), 400
        if model is None:
            return jsonify({"error": "no model loaded"}), 503
        cached = cache.get(rows)
        if cached is not None:
            return jsonify({"predictions": cached, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return jsonify({"error": "the server is busy"}), 429, {"Retry-After": "1"}
        except RuntimeError:
            queue_depth.dec()
            return jsonify({"error": "the server is shutting down"}), 503
        try:
            predictions = future.result(timeout=30)
        except Exception as error:  # noqa: BLE001 - a failed model call is the server's 503
            return jsonify({"error": f"the model failed: {type(error).__name__}"}), 503
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app


def _number_min(name, raw, minimum):
    value = _number(name, raw)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def _positive(name, raw):
    value = _number(name, raw)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {raw!r}")
    return value
