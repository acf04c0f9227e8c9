"""Day 17 server: functions and closures."""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, abort, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

MiB = 1024 * 1024


class InvalidInput(ValueError):
    pass


def _number(name, raw, default, minimum, whole, strict_min=False):
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if (value <= minimum) if strict_min else (value < minimum):
        raise ValueError(f"{name} must be {'>' if strict_min else '>='} {minimum}, got {raw!r}")
    if whole:
        if not value.is_integer():
            raise ValueError(f"{name} must be a whole number, got {raw!r}")
        return int(value)
    return value


def _reject(constant):
    raise InvalidInput(f"{constant} is not a number")


def parse_rows(body: bytes):
    try:
        data = json.loads(body, parse_constant=_reject)
    except (ValueError, RecursionError):
        raise InvalidInput("body is not valid JSON") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput("body must be an object with 'features'")
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' must be a non-empty list")
    rows = features if isinstance(features[0], list) else [features]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("each row must be a list of 4 numbers")
        parsed = []
        for value in row:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float)):
                raise InvalidInput("features must be numbers")
            try:
                number = float(value)
            except OverflowError:
                raise InvalidInput("number too large") from None
            if not math.isfinite(number):
                raise InvalidInput("features must be finite")
            parsed.append(number)
        out.append(tuple(parsed))
    return tuple(out)


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = dict(config or {})

    def setting(name):
        return config[name] if name in config else os.environ.get(name)

    max_batch = _number("MAX_BATCH_SIZE", setting("MAX_BATCH_SIZE"), 32, 1, True)
    max_wait_ms = _number("MAX_WAIT_MS", setting("MAX_WAIT_MS"), 5.0, 0, False)
    max_queue = _number("MAX_QUEUE", setting("MAX_QUEUE"), 256, 1, True)
    cache_size = _number("CACHE_SIZE", setting("CACHE_SIZE"), 1024, 0, True)
    rate = _number("RATE_LIMIT", setting("RATE_LIMIT"), None, 0, False, strict_min=True)
    burst = None
    if rate is not None:
        if math.isinf(1 / rate):
            raise ValueError(f"RATE_LIMIT {rate!r} is too small: the wait for one token overflows")
        burst = _number("RATE_BURST", setting("RATE_BURST"), max(1.0, rate), 1, False)
    version = setting("MODEL_VERSION")
    version = str(version) if version not in (None, "") else "unknown"

    if model is None:
        path = setting("MODEL_PATH")
        if path not in (None, ""):
            try:
                import skops.io
                model = skops.io.load(path)
            except Exception:  # noqa: BLE001
                model = None

    app = Flask(__name__)
    # A chunked body has no Content-Length, and get_data() silently stops at this limit: one byte past
    # 1 MiB lets the view see that the body went on.
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1

    registry = CollectorRegistry()
    answered = Counter("model_requests", "answers", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "requests waiting", registry=registry)

    cache = OrderedDict()
    cache_lock = threading.Lock()
    bucket = {"tokens": burst, "at": clock()} if rate is not None else None
    bucket_lock = threading.Lock()

    def take_token():
        with bucket_lock:
            now = clock()
            bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["at"]) * rate)
            bucket["at"] = now
            if bucket["tokens"] >= 1:
                bucket["tokens"] -= 1
                return None
            return max(1, math.ceil((1 - bucket["tokens"]) / rate))

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
        batcher = MicroBatcher(predict_batch, max_batch, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(status, message, **headers):
        response = jsonify({"error": message})
        response.status_code = status
        for key, value in headers.items():
            response.headers[key.replace("_", "-")] = value
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code, exc.description or exc.name)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return error(503, "no model loaded")
        return jsonify({"status": "ready"})

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait_s = take_token()
            if wait_s is not None:
                return error(429, "rate limit exceeded", Retry_After=str(wait_s))
        if model is None:
            return error(503, "no model loaded")
        body = request.get_data()
        if len(body) > MiB:
            abort(413, "body over 1 MiB")  # answered by http_error, as Flask's own 413 would be
        try:
            rows = parse_rows(body)
        except InvalidInput as exc:
            return error(400, str(exc))
        if cache_size:
            with cache_lock:
                hit = cache.get(rows)
                if hit is not None:
                    cache.move_to_end(rows)
            if hit is not None:
                return jsonify({"predictions": hit, "model_version": version})
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
        except Exception as exc:  # noqa: BLE001
            return error(503, f"model failed: {exc}")
        if cache_size:
            with cache_lock:
                cache[rows] = predictions
                cache.move_to_end(rows)
                while len(cache) > cache_size:
                    cache.popitem(last=False)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
