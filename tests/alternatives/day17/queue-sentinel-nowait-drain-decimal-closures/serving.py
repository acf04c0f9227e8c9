"""Serving through a micro-batcher; functions and closures rather than helper classes."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from decimal import Decimal, InvalidOperation

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LIMIT = 1 << 20
DEFAULTS = {"MAX_BATCH_SIZE": 32, "MAX_WAIT_MS": 5, "MAX_QUEUE": 256, "CACHE_SIZE": 1024}


def _json(status, payload, headers=None):
    return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers or {})


def _lookup(config, name):
    value = config.get(name) if name in config else os.environ.get(name)
    if value is None or value == "":
        return None
    return value


def _as_decimal(name, value):
    """Any number or numeric text as a finite Decimal; ValueError naming the setting otherwise."""
    if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"setting {name}: {value!r} is not a number")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, int) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"setting {name}: {value!r} is not a number") from None
    if not number.is_finite() or not math.isfinite(float(number)):  # read as a float: "1e400" is infinite
        raise ValueError(f"setting {name}: {value!r} is not finite")
    return number


def _setting(config, name, *, whole, minimum, default, strict=False):
    value = _lookup(config, name)
    if value is None:
        return default
    number = _as_decimal(name, value)
    if whole and number != number.to_integral_value():
        raise ValueError(f"setting {name}: {value!r} is not a whole number")
    if number < minimum or (strict and number == minimum):
        raise ValueError(f"setting {name}: {value!r} is out of range")
    return int(number) if whole else float(number)


def _rows_of(payload):
    if not isinstance(payload, dict):
        return None
    features = payload.get("features")
    if not isinstance(features, list) or len(features) == 0:
        return None
    if all(not isinstance(x, list) for x in features):
        features = [features]
    key = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            return None
        if any(type(x) not in (int, float) for x in row):
            return None
        try:
            floats = tuple(float(x) for x in row)
        except OverflowError:
            return None
        if not all(math.isfinite(x) for x in floats):
            return None
        key.append(floats)
    return tuple(key)


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = dict(config or {})
    batch_limit = _setting(config, "MAX_BATCH_SIZE", whole=True, minimum=1, default=32)
    wait_ms = _setting(config, "MAX_WAIT_MS", whole=False, minimum=0, default=5.0)
    queue_limit = _setting(config, "MAX_QUEUE", whole=True, minimum=1, default=256)
    cache_limit = _setting(config, "CACHE_SIZE", whole=True, minimum=0, default=1024)
    rate = _setting(config, "RATE_LIMIT", whole=False, minimum=0, default=None, strict=True)
    burst = None
    if rate is not None:
        if rate == 0 or not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT is too small: one token's wait is beyond a float ({rate!r})")
        burst = _setting(config, "RATE_BURST", whole=False, minimum=1, default=max(1.0, rate))
    version = _lookup(config, "MODEL_VERSION")
    version = "0.0.0" if version is None else str(version)

    if model is None:
        path = _lookup(config, "MODEL_PATH")
        if path:
            try:
                from skops.io import load

                model = load(str(path))
            except Exception:  # noqa: BLE001
                model = None

    registry = CollectorRegistry(auto_describe=True)
    total = Counter("model_requests_total", "requests", ("endpoint", "status"), registry=registry)
    seconds = Histogram("model_request_latency_seconds", "latency", ("endpoint",), registry=registry)
    sizes = Histogram("model_batch_size", "requests per model call", registry=registry,
                      buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128])
    state = {"submitted": 0, "handed": 0, "tokens": burst, "stamp": clock() if rate else None}
    counters_lock = threading.Lock()
    depth = Gauge("model_queue_depth", "requests waiting", registry=registry)
    depth.set_function(lambda: state["submitted"] - state["handed"])

    cache: dict = {}
    cache_lock = threading.Lock()
    bucket_lock = threading.Lock()

    def run_model(items):
        with counters_lock:
            state["handed"] += len(items)
        sizes.observe(len(items))
        flat = np.array([r for rows in items for r in rows], dtype=np.float64)
        values = model.predict(flat).tolist()
        out, at = [], 0
        for rows in items:
            out.append(values[at:at + len(rows)])
            at += len(rows)
        return out

    app = Flask(__name__)
    batcher = None
    if model is not None:
        batcher = MicroBatcher(run_model, batch_limit, wait_ms / 1000.0, queue_limit)
        app.extensions["batcher"] = batcher

    def take_token():
        with bucket_lock:
            now = clock()
            state["tokens"] = min(burst, state["tokens"] + (now - state["stamp"]) * rate)
            state["stamp"] = now
            if state["tokens"] >= 1:
                state["tokens"] -= 1
                return None
            return max(1, math.ceil((1 - state["tokens"]) / rate))

    @app.before_request
    def started():
        g.t0 = time.perf_counter()

    @app.after_request
    def count(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        if endpoint != "/metrics":
            total.labels(endpoint, str(response.status_code)).inc()
            seconds.labels(endpoint).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return response

    @app.errorhandler(404)
    @app.errorhandler(405)
    def routing_error(exc):
        return _json(exc.code, {"error": exc.name})

    @app.route("/health")
    def health():
        return _json(200, {"status": "ok", "model_version": version})

    @app.route("/ready")
    def ready():
        return _json(200 if model is not None else 503, {"ready": model is not None})

    @app.route("/metrics")
    def metrics_page():
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    @app.route("/predict", methods=["POST"])
    def predict():
        if rate is not None:
            wait = take_token()
            if wait is not None:
                return _json(429, {"error": "rate limited"}, {"Retry-After": str(wait)})
        body = request.stream.read(LIMIT + 1)
        if len(body) > LIMIT or (request.content_length or 0) > LIMIT:
            return _json(413, {"error": "body over 1 MiB"})
        if model is None:
            return _json(503, {"error": "model not loaded"})
        try:
            rows = _rows_of(json.loads(body))
        except (ValueError, RecursionError):
            rows = None
        if rows is None:
            return _json(400, {"error": "expected {\"features\": rows of 4 finite numbers}"})
        if cache_limit:
            with cache_lock:
                hit = cache.pop(rows, None)
                if hit is not None:
                    cache[rows] = hit
            if hit is not None:
                return _json(200, hit)
        with counters_lock:
            state["submitted"] += 1
        try:
            future = batcher.submit(rows)
        except (QueueFull, RuntimeError) as exc:
            with counters_lock:
                state["submitted"] -= 1
            if isinstance(exc, QueueFull):
                return _json(429, {"error": "queue full"}, {"Retry-After": "1"})
            return _json(503, {"error": "shutting down"})
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return _json(503, {"error": "model call failed"})
        answer = {"predictions": predictions, "model_version": version}
        if cache_limit:
            with cache_lock:
                cache[rows] = answer
                while len(cache) > cache_limit:
                    del cache[next(iter(cache))]
        return _json(200, answer)

    return app
