"""Tasks 2 and 3: the day-03 model server grown for load (batched, cached, rate limited)."""

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
ANSWER_TIMEOUT_S = 30.0


class BadInput(Exception):
    pass


def _setting(settings: Mapping[str, Any], name: str, default, *, whole: bool, minimum: float,
             above: bool = False):
    raw = settings.get(name)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool ({raw!r})")
    try:
        value = float(raw)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got {raw!r}") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if whole and not value.is_integer():
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    if above and not value > minimum:
        raise ValueError(f"{name} must be > {minimum}, got {raw!r}")
    if not above and not value >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {raw!r}")
    return int(value) if whole else value


class LRUCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        if self.capacity == 0:
            return None
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until the next whole token."""
        with self._lock:
            now = self.clock()
            elapsed = max(0.0, now - self.stamp)
            self.stamp = now
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput("every feature must be a number")
    try:
        number = float(value)
    except OverflowError:
        raise BadInput("every feature must be finite") from None
    if not math.isfinite(number):
        raise BadInput("every feature must be finite")
    return number


def _row(row) -> tuple[float, ...]:
    if not isinstance(row, list) or len(row) != 4:
        raise BadInput("every row must be a list of 4 numbers")
    return tuple(_number(value) for value in row)


def parse_rows(body: bytes) -> tuple[tuple[float, ...], ...]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadInput("the body must be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise BadInput("'features' must be a non-empty list")
    if not isinstance(features[0], list):
        return (_row(features),)
    return tuple(_row(row) for row in features)


def _read_body() -> bytes:
    stream = request.stream
    chunks, got = [], 0
    while got <= MiB:
        chunk = stream.read(MiB + 1 - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _load_model(path):
    if not path:
        return None
    try:
        import skops.io

        return skops.io.load(path)
    except Exception:  # noqa: BLE001 - a missing or unsafe file leaves the server not ready
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    """The model server: day 03's contract, answered through a micro-batcher."""
    names = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE",
             "CACHE_SIZE", "RATE_LIMIT", "RATE_BURST")
    settings: dict[str, Any] = {}
    given = dict(config or {})
    for name in names:
        value = given.get(name)
        if value is None or (isinstance(value, str) and value == ""):
            value = os.environ.get(name)
        settings[name] = value

    max_batch_size = _setting(settings, "MAX_BATCH_SIZE", 32, whole=True, minimum=1)
    max_wait_ms = _setting(settings, "MAX_WAIT_MS", 5.0, whole=False, minimum=0)
    max_queue = _setting(settings, "MAX_QUEUE", 256, whole=True, minimum=1)
    cache_size = _setting(settings, "CACHE_SIZE", 1024, whole=True, minimum=0)
    rate = _setting(settings, "RATE_LIMIT", None, whole=False, minimum=0, above=True)
    bucket = None
    if rate is not None:
        if not math.isfinite(1 / rate):
            raise ValueError(f"RATE_LIMIT {rate!r} is too small: the wait for one token is not a finite float")
        burst = _setting(settings, "RATE_BURST", max(1.0, rate), whole=False, minimum=1)
        bucket = TokenBucket(rate, burst, clock)

    version = settings["MODEL_VERSION"]
    version = "unversioned" if version is None or version == "" else str(version)

    if model is None:
        path = settings["MODEL_PATH"]
        if not path and settings["MODEL_URI"]:
            uri = str(settings["MODEL_URI"])
            path = uri[len("file://"):] if uri.startswith("file://") else None
        model = _load_model(path)

    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Answered requests", ["endpoint", "status"],
                             registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency in seconds", ["endpoint"],
                        registry=registry)
    batch_sizes = Histogram("model_batch_size", "Requests per model call", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, float("inf")))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet handed to the model",
                        registry=registry)

    app = Flask(__name__)
    cache = LRUCache(cache_size)

    def predict_batch(items: list) -> list:
        queue_depth.dec(len(items))
        batch_sizes.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = model.predict(np.asarray(rows, dtype=float))
        predictions = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
        answers, start = [], 0
        for item in items:
            answers.append(predictions[start:start + len(item)])
            start += len(item)
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch_size, max_wait_ms / 1000, max_queue)
        app.extensions["batcher"] = batcher

    def error(status: int, message: str, **headers):
        answer = jsonify({"error": message})
        answer.status_code = status
        for key, value in headers.items():
            answer.headers[key.replace("_", "-")] = value
        return answer

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        if request.path != "/metrics" or request.url_rule is None:
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            if endpoint != "/metrics":
                requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
                latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify({"status": "not ready", "model_version": version}), 503
        return jsonify({"status": "ready", "model_version": version})

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    def predict():
        if bucket is not None:
            wait = bucket.take()
            if wait > 0:
                return error(429, "rate limit exceeded", Retry_After=str(max(1, math.ceil(wait))))
        if request.content_length is not None and request.content_length > MiB:
            return error(413, "the body is over 1 MiB")
        body = _read_body()
        if len(body) > MiB:
            return error(413, "the body is over 1 MiB")
        try:
            rows = parse_rows(body)
        except BadInput as exc:
            return error(400, str(exc))
        if model is None:
            return error(503, "no model is loaded")
        cached = cache.get(rows)
        if cached is not None:
            return jsonify({"predictions": cached, "model_version": version})
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "the queue is full", Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=ANSWER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a failed model call is a 503
            future.cancel()
            return error(503, f"the model failed: {type(exc).__name__}")
        cache.put(rows, predictions)
        return jsonify({"predictions": predictions, "model_version": version})

    return app
