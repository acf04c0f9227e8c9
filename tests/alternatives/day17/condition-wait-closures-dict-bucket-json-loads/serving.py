"""Model server with micro-batching, an LRU cache and backpressure (function style)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from batcher import MicroBatcher, QueueFull

MiB = 1024 * 1024


class BadInput(ValueError):
    pass


def _number(name, value, *, whole, minimum, strict=False):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got a bool")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if whole and not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if number < minimum or (strict and number <= minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return int(number) if whole else number


def _settings(config):
    config = dict(config or {})

    def raw(name):
        value = config[name] if name in config else os.environ.get(name)
        return None if value is None or value == "" else value

    out = {}
    specs = {
        "MAX_BATCH_SIZE": (32, True, 1),
        "MAX_WAIT_MS": (5, False, 0),
        "MAX_QUEUE": (256, True, 1),
        "CACHE_SIZE": (1024, True, 0),
    }
    for name, (default, whole, minimum) in specs.items():
        value = raw(name)
        out[name] = default if value is None else _number(name, value, whole=whole, minimum=minimum)
    rate = raw("RATE_LIMIT")
    if rate is None:
        out["RATE_LIMIT"] = out["RATE_BURST"] = None
    else:
        out["RATE_LIMIT"] = _number("RATE_LIMIT", rate, whole=False, minimum=0, strict=True)
        if not math.isfinite(1 / out["RATE_LIMIT"]):
            raise ValueError(f"RATE_LIMIT {rate!r} is too small: the wait for a token would overflow")
        burst = raw("RATE_BURST")
        out["RATE_BURST"] = (max(1.0, out["RATE_LIMIT"]) if burst is None
                             else _number("RATE_BURST", burst, whole=False, minimum=1))
    out["MODEL_PATH"] = raw("MODEL_PATH")
    version = raw("MODEL_VERSION")
    out["MODEL_VERSION"] = "unversioned" if version is None else str(version)
    return out


def _reject_constant(name):
    raise BadInput(f"{name} is not a number")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, (bool, np.bool_))


def _to_float(value):
    try:
        number = float(value)
    except OverflowError:
        raise BadInput("a feature is too large") from None
    if not math.isfinite(number):
        raise BadInput("features must be finite")
    return number


def parse_rows(body: bytes):
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except BadInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise BadInput("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadInput("the body should be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise BadInput("'features' should be a non-empty list")
    rows = [features] if all(not isinstance(v, list) for v in features) else features
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or not all(_is_number(v) for v in row):
            raise BadInput("every row should be 4 numbers")
        parsed.append(tuple(_to_float(v) for v in row))
    return tuple(parsed)


def _load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - a missing or unsafe file leaves the server not ready
        return None


def create_app(config=None, *, model=None, clock=time.monotonic):
    settings = _settings(config)
    if model is None:
        model = _load_model(settings["MODEL_PATH"])
    version = settings["MODEL_VERSION"]

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # one byte past the limit: read_body tells a longer chunked body

    registry = CollectorRegistry()
    answered = Counter("model_requests_total", "Answered requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=registry)

    cache: OrderedDict = OrderedDict()
    cache_lock = threading.Lock()
    cache_size = settings["CACHE_SIZE"]

    rate, burst = settings["RATE_LIMIT"], settings["RATE_BURST"]
    bucket = {"tokens": burst, "at": clock()} if rate else None
    bucket_lock = threading.Lock()

    def take_token():
        """None when a token was taken, else the seconds to wait."""
        with bucket_lock:
            now = clock()
            bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["at"]) * rate)
            bucket["at"] = now
            if bucket["tokens"] >= 1:
                bucket["tokens"] -= 1
                return None
            return max(1, math.ceil((1 - bucket["tokens"]) / rate))

    def read_body():
        """The body, read until it ends or 1 MiB + 1 bytes came; over 1 MiB is a 413."""
        body = b""
        while len(body) <= MiB:
            chunk = request.stream.read(MiB + 1 - len(body))
            if not chunk:
                return body
            body += chunk
        raise RequestEntityTooLarge("body over 1 MiB")

    batcher = None
    if model is not None:
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

        batcher = MicroBatcher(predict_batch, settings["MAX_BATCH_SIZE"], settings["MAX_WAIT_MS"] / 1000,
                               settings["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

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

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(status="not ready"), 503
        return jsonify(status="ready", model_version=version)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait_s = take_token()
            if wait_s is not None:
                return jsonify(error="rate limited"), 429, {"Retry-After": str(wait_s)}
        if model is None:
            return jsonify(error="no model loaded"), 503
        try:
            rows = parse_rows(read_body())
        except BadInput as exc:
            return jsonify(error=str(exc)), 400
        if cache_size:
            with cache_lock:
                if rows in cache:
                    cache.move_to_end(rows)
                    return jsonify(predictions=cache[rows], model_version=version)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return jsonify(error="too many requests waiting"), 429, {"Retry-After": "1"}
        except RuntimeError:
            queue_depth.dec()
            return jsonify(error="shutting down"), 503
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return jsonify(error="the model failed"), 503
        if cache_size:
            with cache_lock:
                cache[rows] = predictions
                cache.move_to_end(rows)
                while len(cache) > cache_size:
                    cache.popitem(last=False)
        return jsonify(predictions=predictions, model_version=version)

    return app
