"""Day 17 model server: day 03's contract through a micro-batcher, LRU cache, token bucket."""
from __future__ import annotations

import json
import math
import numbers
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

MAX_BODY = 1024 * 1024
RESULT_TIMEOUT_S = 30.0


class BadRequest(Exception):
    pass


def _raw(settings, name):
    value = settings.get(name)
    if value is None or (isinstance(value, str) and value == ""):
        return None
    return value


def _number(name, value, minimum, whole, strict=False):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool: {value!r}")
    try:
        if isinstance(value, str):
            number = float(value.strip())
        elif isinstance(value, (numbers.Number, np.generic)):
            number = float(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < minimum or (strict and number <= minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    if whole:
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


def _read_settings(config):
    settings = {}
    names = ("MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "CACHE_SIZE",
             "RATE_LIMIT", "RATE_BURST")
    config = dict(config or {})
    for name in names:
        value = _raw(config, name)
        if value is None:
            value = _raw(os.environ, name)
        settings[name] = value
    out = {"MODEL_PATH": settings["MODEL_PATH"],
           "MODEL_VERSION": str(settings["MODEL_VERSION"]) if settings["MODEL_VERSION"] is not None else "unversioned"}

    def num(name, default, minimum, whole, strict=False):
        value = settings[name]
        return default if value is None else _number(name, value, minimum, whole, strict)

    out["MAX_BATCH_SIZE"] = num("MAX_BATCH_SIZE", 32, 1, True)
    out["MAX_WAIT_MS"] = num("MAX_WAIT_MS", 5.0, 0, False)
    out["MAX_QUEUE"] = num("MAX_QUEUE", 256, 1, True)
    out["CACHE_SIZE"] = num("CACHE_SIZE", 1024, 0, True)
    rate = num("RATE_LIMIT", None, 0, False, strict=True)
    if rate is not None and not math.isfinite(1.0 / rate):
        raise ValueError(f"RATE_LIMIT is too small: {settings['RATE_LIMIT']!r}")
    out["RATE_LIMIT"] = rate
    out["RATE_BURST"] = num("RATE_BURST", max(1.0, rate), 1, False) if rate is not None else None
    return out


class LRU:
    def __init__(self, size):
        self.size = size
        self.data = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        if self.size <= 0:
            return None
        with self.lock:
            if key not in self.data:
                return None
            self.data.move_to_end(key)
            return self.data[key]

    def put(self, key, value):
        if self.size <= 0:
            return
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate, burst, clock):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = clock()
        self.lock = threading.Lock()

    def take(self):
        """Return 0 when a token was taken, else the whole seconds to wait."""
        with self.lock:
            now = self.clock()
            elapsed = max(0.0, now - self.last)
            self.last = now
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            wait = (1 - self.tokens) / self.rate
            if not math.isfinite(wait):
                return 2**31
            return max(1, math.ceil(wait))


def _load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001
        return None


def _parse_rows(body: bytes):
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise BadRequest("features must be a non-empty list")
    if not isinstance(features[0], list):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("every row must be a list of 4 numbers")
        out = []
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest("features must be numbers")
            try:
                number = float(value)
            except OverflowError:
                raise BadRequest("feature out of range") from None
            if not math.isfinite(number):
                raise BadRequest("features must be finite")
            out.append(number)
        rows.append(tuple(out))
    return tuple(rows)


def _read_body():
    length = request.content_length
    if length is not None and length > MAX_BODY:
        return None
    stream = request.stream
    chunks = []
    got = 0
    while got <= MAX_BODY:
        chunk = stream.read(MAX_BODY + 1 - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got > MAX_BODY:
        return None
    return b"".join(chunks)


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    settings = _read_settings(config)
    if model is None:
        model = _load_model(settings["MODEL_PATH"])
    version = settings["MODEL_VERSION"]

    app = Flask(__name__)
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call",
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=registry)
    queue_depth = Gauge("model_queue_depth", "Requests waiting for a model call", registry=registry)

    cache = LRU(settings["CACHE_SIZE"])
    bucket = (TokenBucket(settings["RATE_LIMIT"], settings["RATE_BURST"], clock)
              if settings["RATE_LIMIT"] is not None else None)

    def predict_batch(items):
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = model.predict(np.asarray(rows, dtype=float))
        predictions = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
        if len(predictions) != len(rows):
            raise ValueError("model returned the wrong number of predictions")
        out, start = [], 0
        for item in items:
            out.append(predictions[start:start + len(item)])
            start += len(item)
        return out

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, settings["MAX_BATCH_SIZE"], settings["MAX_WAIT_MS"] / 1000.0,
                               settings["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    def error(status, message, headers=None):
        response = jsonify({"error": message})
        response.status_code = status
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @app.before_request
    def start_timer():
        g.start = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path == "/metrics" and request.url_rule is not None:
            return response
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        if "start" in g:
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.start)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def any_error(exc):
        return error(500, "internal error")

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

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait:
                return error(429, "rate limit exceeded", {"Retry-After": str(wait)})
        body = _read_body()
        if body is None:
            return error(413, "body larger than 1 MiB")
        if model is None:
            return error(503, "no model loaded")
        try:
            rows = _parse_rows(body)
        except BadRequest as exc:
            return error(400, str(exc))
        cached = cache.get(rows)
        if cached is not None:
            return jsonify({"predictions": cached, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "queue is full", {"Retry-After": "1"})
        except RuntimeError:
            queue_depth.dec()
            return error(503, "server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception:  # noqa: BLE001
            future.cancel()
            return error(503, "model call failed")
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
