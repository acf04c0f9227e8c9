"""Model server: validation as on day 03, answers through a micro-batcher, a dict-ordered
LRU cache, a token bucket in the view and a queue-depth gauge read from counters."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

DEFAULTS = {"MAX_BATCH_SIZE": 32, "MAX_WAIT_MS": 5.0, "MAX_QUEUE": 256, "CACHE_SIZE": 1024}
# name: (whole number?, smallest allowed, smallest excluded?)
RULES = {"MAX_BATCH_SIZE": (True, 1, False), "MAX_WAIT_MS": (False, 0, False), "MAX_QUEUE": (True, 1, False),
         "CACHE_SIZE": (True, 0, False), "RATE_LIMIT": (False, 0, True), "RATE_BURST": (False, 1, False)}


class BadRequest(Exception):
    pass


def read_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in ("MODEL_PATH", "MODEL_VERSION", *RULES):
        raw = config.get(name) if name in config else os.environ.get(name)
        if raw is None or raw == "" or (isinstance(raw, str) and raw.isspace()):
            continue
        merged[name] = raw
    settings: dict[str, Any] = dict(DEFAULTS)
    for name, (whole, low, exclusive) in RULES.items():
        if name not in merged or (name == "RATE_BURST" and "RATE_LIMIT" not in merged):
            continue
        settings[name] = check(name, merged[name], whole, low, exclusive)
    if "RATE_LIMIT" in settings and math.isinf(1 / settings["RATE_LIMIT"]):
        raise ValueError(f"RATE_LIMIT={merged['RATE_LIMIT']!r} is too small: the wait for one token is infinite")
    if "RATE_LIMIT" in settings and "RATE_BURST" not in settings:
        settings["RATE_BURST"] = max(1.0, settings["RATE_LIMIT"])
    settings["MODEL_PATH"] = merged.get("MODEL_PATH")
    settings["MODEL_VERSION"] = str(merged.get("MODEL_VERSION", "0.0.0-dev"))
    return settings


def check(name: str, raw: Any, whole: bool, low: float, exclusive: bool):
    if isinstance(raw, (np.integer, np.floating)):  # NumPy numbers are numbers too
        raw = raw.item()
    if type(raw) is bool or not isinstance(raw, (int, float, str)):
        raise ValueError(f"setting {name}: expected a number, got {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"setting {name}: {raw!r} is not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"setting {name}: {raw!r} is not finite")
    if whole and not number.is_integer():
        raise ValueError(f"setting {name}: {raw!r} is not a whole number")
    if number < low or (exclusive and number <= low):
        raise ValueError(f"setting {name}: {raw!r} is too small")
    return int(number) if whole else number


def _no_constants(text: str):
    raise BadRequest(f"{text} is not allowed")


def _finite_number(value: Any) -> float:
    if type(value) not in (int, float):
        raise BadRequest(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise BadRequest("a number is too large") from None
    if math.isnan(number) or math.isinf(number):
        raise BadRequest("numbers must be finite")
    return number


def rows_of(raw: bytes) -> tuple[tuple[float, ...], ...]:
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(features, list) or len(features) == 0:
        raise BadRequest('expected {"features": [[f, f, f, f], ...]}')
    batch = features if all(isinstance(r, list) for r in features) else [features]
    out = []
    for row in batch:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("each row holds exactly 4 numbers")
        out.append(tuple(_finite_number(v) for v in row))
    return tuple(out)


class AnswerCache:
    """LRU over a plain dict (insertion ordered): a hit is popped and re-inserted at the end."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict = {}
        self.lock = threading.Lock()

    def lookup(self, key):
        with self.lock:
            if key in self.entries:
                value = self.entries.pop(key)
                self.entries[key] = value
                return value
        return None

    def store(self, key, value) -> None:
        if self.capacity <= 0:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            if len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


class Bucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.level = capacity
        self.stamp = clock()
        self.lock = threading.Lock()

    def try_take(self) -> tuple[bool, float]:
        with self.lock:
            now = self.clock()
            self.level = min(self.capacity, self.level + max(0.0, now - self.stamp) * self.rate)
            self.stamp = now
            if self.level >= 1:
                self.level -= 1
                return True, 0.0
            return False, (1 - self.level) / self.rate


class QueueDepth:
    """Requests submitted minus requests handed to the model, read by the gauge."""

    def __init__(self) -> None:
        self.submitted = 0
        self.handed = 0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.submitted += n

    def hand(self, n: int) -> None:
        with self.lock:
            self.handed += n

    def value(self) -> float:
        with self.lock:
            return self.submitted - self.handed


def load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    settings = read_settings(config or {})
    if model is None:
        model = load_model(settings["MODEL_PATH"])
    version = settings["MODEL_VERSION"]

    registry = CollectorRegistry(auto_describe=True)
    answered = Counter("model_requests_total", "Requests answered", ("endpoint", "status"), registry=registry)
    latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",), registry=registry)
    batch_sizes = Histogram("model_batch_size", "Requests per model call",
                            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128), registry=registry)
    depth = QueueDepth()
    Gauge("model_queue_depth", "Requests waiting for the model", registry=registry).set_function(depth.value)

    bucket = Bucket(settings["RATE_LIMIT"], settings["RATE_BURST"], clock) if "RATE_LIMIT" in settings else None
    cache = AnswerCache(settings["CACHE_SIZE"])

    app = Flask(__name__)
    # 1 MiB + 1: get_data() stops there on a chunked body (no Content-Length), so predict sees it went on.
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1

    batcher = None
    if model is not None:
        def predict_batch(requests_rows: list) -> list:
            depth.hand(len(requests_rows))
            batch_sizes.observe(len(requests_rows))
            counts = [len(rows) for rows in requests_rows]
            flat = np.array([row for rows in requests_rows for row in rows], dtype=np.float64)
            predictions = list(np.asarray(model.predict(flat)).tolist())
            bounds = np.cumsum([0, *counts]).tolist()
            return [predictions[a:b] for a, b in zip(bounds, bounds[1:])]

        batcher = MicroBatcher(predict_batch, settings["MAX_BATCH_SIZE"], settings["MAX_WAIT_MS"] / 1000.0,
                               settings["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    def fail(code: int, message: str, retry_after: int | None = None) -> Response:
        response = jsonify(error=message)
        response.status_code = code
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException):
        return fail(error.code or 500, error.description or "error")

    def measured(view, endpoint: str):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            response = app.make_response(view(*args, **kwargs))
            answered.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
            return response

        wrapper.__name__ = view.__name__
        return wrapper

    def health():
        return {"status": "ok", "model_version": version}

    def ready():
        return ({"ready": True}, 200) if batcher is not None else ({"ready": False}, 503)

    def predict():
        if bucket is not None:
            ok, wait_s = bucket.try_take()
            if not ok:
                return fail(429, "too many requests", max(1, math.ceil(wait_s)))
        try:
            body = request.get_data()
        except HTTPException as error:
            return fail(error.code or 500, error.description or "error")
        if len(body) > 1 << 20:
            return fail(413, "request body over 1 MiB")
        if batcher is None:
            return fail(503, "model not loaded")
        try:
            rows = rows_of(body)
        except BadRequest as error:
            return fail(400, str(error))
        cached = cache.lookup(rows)
        if cached is not None:
            return jsonify(cached)
        depth.add(1)
        try:
            pending = batcher.submit(rows)
        except QueueFull:
            depth.hand(1)
            return fail(429, "queue full", 1)
        except RuntimeError:
            depth.hand(1)
            return fail(503, "shutting down")
        try:
            predictions = pending.result(timeout=30)
        except Exception as error:  # noqa: BLE001 - model failure or timeout
            return fail(503, f"prediction failed: {type(error).__name__}")
        answer = {"predictions": predictions, "model_version": version}
        cache.store(rows, answer)
        return jsonify(answer)

    app.add_url_rule("/health", view_func=measured(health, "/health"), methods=["GET"])
    app.add_url_rule("/ready", view_func=measured(ready, "/ready"), methods=["GET"])
    app.add_url_rule("/predict", view_func=measured(predict, "/predict"), methods=["POST"])

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    @app.before_request
    def note_start():
        g.arrived = time.perf_counter()

    @app.after_request
    def count_unmatched(response):
        if request.url_rule is None:
            answered.labels(endpoint="unmatched", status=str(response.status_code)).inc()
            latency.labels(endpoint="unmatched").observe(time.perf_counter() - g.get("arrived", time.perf_counter()))
        return response

    return app
