"""The model server behind a micro-batcher: settings table, dict-ordered LRU, a gauge computed
from two counters, the rate limit checked at the top of the view."""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ONE_MIB = 1 << 20

# name: (default, kind, check, description of the check)
SETTINGS = {
    "MAX_BATCH_SIZE": (32, int, lambda v: v >= 1, "a whole number >= 1"),
    "MAX_WAIT_MS": (5, float, lambda v: v >= 0, "a number >= 0"),
    "MAX_QUEUE": (256, int, lambda v: v >= 1, "a whole number >= 1"),
    "CACHE_SIZE": (1024, int, lambda v: v >= 0, "a whole number >= 0"),
    "RATE_LIMIT": (None, float, lambda v: v > 0 and math.isfinite(1 / v), "a number > 0 whose inverse is finite"),
    "RATE_BURST": (None, float, lambda v: v >= 1, "a number >= 1"),
}


def read_number(name: str, raw: Any):
    default, kind, ok, wanted = SETTINGS[name]
    if raw is None or raw == "":
        return default
    problem = ValueError(f"setting {name}={raw!r}: expected {wanted}")
    if isinstance(raw, (np.integer, np.floating)):  # NumPy numbers are numbers too
        raw = raw.item()
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise problem
    if isinstance(raw, str):
        try:
            raw = int(raw.strip())
        except (ValueError, OverflowError):
            try:
                raw = float(raw)
            except (ValueError, OverflowError):
                raise problem from None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise problem
        if kind is int:
            if raw != int(raw):
                raise problem
            raw = int(raw)
    try:
        value = kind(raw)
        float(value)  # an int beyond a float's range is not finite
    except OverflowError:
        raise problem from None
    if not ok(value):
        raise problem
    return value


def json_answer(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers or {}, mimetype="application/json")


def bad(message: str):
    return json_answer({"error": message}, 400)


def parse_features(raw: bytes):
    """The rows as a tuple of tuples of floats, or an error message."""
    def no_constants(token):
        raise ValueError(token)

    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None, "body is not JSON"
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(features, list) or len(features) == 0:
        return None, "expected {\"features\": [[f, f, f, f], ...]}"
    batch = features if isinstance(features[0], list) else [features]
    out = []
    for row in batch:
        if not (isinstance(row, list) and len(row) == 4):
            return None, "each row must hold exactly 4 numbers"
        if any(type(x) not in (int, float) for x in row):
            return None, "features must be numbers"
        try:
            values = tuple(float(x) for x in row)
        except OverflowError:
            return None, "feature out of range"
        if not all(map(math.isfinite, values)):
            return None, "features must be finite"
        out.append(values)
    return tuple(out), None


class AnswerCache:
    """LRU on a plain dict: insertion order is recency; a hit re-inserts its key."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict = {}
        self.lock = threading.Lock()

    def lookup(self, key):
        with self.lock:
            value = self.entries.pop(key, None)
            if value is not None:
                self.entries[key] = value
            return value

    def store(self, key, value) -> None:
        if not self.capacity:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            if len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


class Bucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate, self.capacity, self.clock = rate, capacity, clock
        self.level, self.stamp = capacity, clock()
        self.lock = threading.Lock()

    def try_take(self) -> tuple[bool, int]:
        with self.lock:
            now = self.clock()
            self.level = min(self.capacity, self.level + self.rate * (now - self.stamp))
            self.stamp = now
            if self.level >= 1:
                self.level -= 1
                return True, 0
            return False, max(1, math.ceil((1 - self.level) / self.rate))


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = dict(config or {})

    def setting(name):
        return config[name] if name in config else os.environ.get(name)

    numbers = {name: read_number(name, setting(name)) for name in SETTINGS if name != "RATE_BURST"}
    if numbers["RATE_LIMIT"] is not None:
        numbers["RATE_BURST"] = read_number("RATE_BURST", setting("RATE_BURST"))
        if numbers["RATE_BURST"] is None:
            numbers["RATE_BURST"] = max(1.0, numbers["RATE_LIMIT"])
    version = setting("MODEL_VERSION") or "dev"

    if model is None:
        path = setting("MODEL_PATH")
        if path:
            try:
                from skops.io import load

                model = load(path)
            except Exception:  # noqa: BLE001
                model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = ONE_MIB + 1  # a chunked stream stops one byte past 1 MiB
    registry = CollectorRegistry()
    answered = Counter("model_requests_total", "Answers", ["endpoint", "status"], registry=registry)
    seconds = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    sizes = Histogram("model_batch_size", "Requests per model call", registry=registry,
                      buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    counts = {"submitted": 0, "handed": 0}  # the gauge is their difference
    counts_lock = threading.Lock()

    def depth() -> int:
        with counts_lock:
            return counts["submitted"] - counts["handed"]

    Gauge("model_queue_depth", "Waiting requests", registry=registry).set_function(depth)
    cache = AnswerCache(numbers["CACHE_SIZE"])
    bucket = Bucket(numbers["RATE_LIMIT"], numbers["RATE_BURST"], clock) if numbers["RATE_LIMIT"] else None

    def run_model(requests_rows: list) -> list:
        with counts_lock:
            counts["handed"] += len(requests_rows)
        sizes.observe(len(requests_rows))
        offsets = list(itertools.accumulate((len(r) for r in requests_rows), initial=0))
        flat = np.array([row for rows in requests_rows for row in rows], dtype=float)
        predicted = list(np.asarray(model.predict(flat)).tolist())
        if len(predicted) != offsets[-1]:
            raise ValueError("the model answered the wrong number of rows")
        return [predicted[a:b] for a, b in zip(offsets, offsets[1:])]

    batcher = None
    if model is not None:
        batcher = MicroBatcher(run_model, numbers["MAX_BATCH_SIZE"], numbers["MAX_WAIT_MS"] / 1000.0,
                               numbers["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    def instrumented(endpoint):
        def wrap(view):
            @functools.wraps(view)
            def timed(*args, **kwargs):
                began = time.perf_counter()
                answer = app.make_response(view(*args, **kwargs))
                answered.labels(endpoint, str(answer.status_code)).inc()
                seconds.labels(endpoint).observe(time.perf_counter() - began)
                return answer
            return timed
        return wrap

    @app.route("/health")
    @instrumented("/health")
    def health():
        return json_answer({"status": "ok", "model_version": version})

    @app.route("/ready")
    @instrumented("/ready")
    def ready():
        if model is None:
            return json_answer({"error": "model not loaded"}, 503)
        return json_answer({"ready": True})

    @app.errorhandler(404)
    @instrumented("unmatched")
    def unmatched(_error):
        return json_answer({"error": "not found"}, 404)

    @app.errorhandler(405)
    def wrong_method(_error):
        return json_answer({"error": "method not allowed"}, 405)

    @app.route("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    @app.route("/predict", methods=["POST"])
    @instrumented("/predict")
    def predict():
        if bucket is not None:
            allowed, retry_after = bucket.try_take()
            if not allowed:
                return json_answer({"error": "too many requests"}, 429, {"Retry-After": str(retry_after)})
        if batcher is None:
            return json_answer({"error": "model not loaded"}, 503)
        content_length = request.content_length
        if content_length is not None and content_length > ONE_MIB:
            return json_answer({"error": "body over 1 MiB"}, 413)
        try:
            raw = request.get_data()
        except Exception:  # noqa: BLE001 - werkzeug's 413 for a stream over the limit
            return json_answer({"error": "body over 1 MiB"}, 413)
        if len(raw) > ONE_MIB:  # a chunked body: get_data() stopped one byte past 1 MiB
            return json_answer({"error": "body over 1 MiB"}, 413)
        key, problem = parse_features(raw)
        if problem:
            return bad(problem)
        cached = cache.lookup(key)
        if cached is not None:
            return json_answer(cached)
        with counts_lock:
            counts["submitted"] += 1
        try:
            future = batcher.submit([list(row) for row in key])
        except (QueueFull, RuntimeError) as exc:
            with counts_lock:
                counts["submitted"] -= 1
            if isinstance(exc, QueueFull):
                return json_answer({"error": "queue full"}, 429, {"Retry-After": "1"})
            return json_answer({"error": "shutting down"}, 503)
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return json_answer({"error": "model call failed"}, 503)
        payload = {"predictions": predictions, "model_version": version}
        cache.store(key, payload)
        return json_answer(payload)

    return app
