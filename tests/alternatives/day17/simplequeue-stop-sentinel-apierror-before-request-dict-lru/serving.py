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

SETTINGS = {
    # name: (whole number?, minimum, default)
    "MAX_BATCH_SIZE": (True, 1, 32),
    "MAX_WAIT_MS": (False, 0, 5),
    "MAX_QUEUE": (True, 1, 256),
    "CACHE_SIZE": (True, 0, 1024),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_number(name: str, value, whole: bool, minimum: float):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"setting {name}: {value!r} is a bool, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"setting {name}: {value!r} is not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"setting {name}: {value!r} is not finite")
    if number < minimum:
        raise ValueError(f"setting {name}: {value!r} is below {minimum}")
    if whole:
        if not number.is_integer():
            raise ValueError(f"setting {name}: {value!r} is not a whole number")
        return int(number)
    return number


def _no_constants(token):
    raise ApiError(400, f"{token} is not allowed")


def _read_body(stream, limit: int = 1 << 20) -> bytes:
    """The body; ApiError(413) when more than `limit` bytes come (never reads more than limit + 1)."""
    body = bytearray()
    while len(body) <= limit:
        piece = stream.read(limit + 1 - len(body))
        if not piece:
            return bytes(body)
        body += piece
    raise ApiError(413, "body over 1 MiB")


def _rows_of(body: bytes):
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except ApiError:
        raise
    except (ValueError, RecursionError):
        raise ApiError(400, "body must be JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list) or not doc["features"]:
        raise ApiError(400, "body must be an object with a non-empty 'features' list")
    features = doc["features"]
    if all(not isinstance(x, list) for x in features):
        features = [features]
    key = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise ApiError(400, "each row must hold exactly 4 numbers")
        out = []
        for x in row:
            if type(x) not in (int, float):
                raise ApiError(400, "features must be numbers")
            try:
                x = float(x)
            except OverflowError:
                raise ApiError(400, "a feature does not fit a float") from None
            if not math.isfinite(x):
                raise ApiError(400, "features must be finite")
            out.append(x)
        key.append(tuple(out))
    return tuple(key)


class LruAnswers:
    """Plain dict in recency order (pop and re-insert), an RLock around every step."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: dict = {}
        self._lock = threading.RLock()

    def lookup(self, key):
        with self._lock:
            if key in self._data:
                value = self._data.pop(key)
                self._data[key] = value
                return True, value
            return False, None

    def store(self, key, value) -> None:
        if self._size == 0:
            return
        with self._lock:
            self._data.pop(key, None)
            self._data[key] = value
            if len(self._data) > self._size:
                del self._data[next(iter(self._data))]


class RateBucket:
    def __init__(self, rate: float, burst: float, clock) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._state = (burst, clock())
        self._lock = threading.Lock()

    def try_take(self) -> int:
        """0 when a token was taken, else Retry-After in whole seconds."""
        with self._lock:
            tokens, stamp = self._state
            now = self._clock()
            elapsed = max(0.0, now - stamp)
            tokens = min(self._burst, tokens + elapsed * self._rate)
            if tokens >= 1:
                self._state = (tokens - 1, max(now, stamp))
                return 0
            self._state = (tokens, max(now, stamp))
            return max(1, math.ceil((1 - tokens) / self._rate))


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    merged: dict[str, Any] = {k: v for k, v in os.environ.items()}
    merged.update(config or {})

    values = {}
    for name, (whole, minimum, default) in SETTINGS.items():
        raw = merged.get(name)
        values[name] = default if _blank(raw) else _as_number(name, raw, whole, minimum)

    bucket = None
    if not _blank(merged.get("RATE_LIMIT")):
        rate = _as_number("RATE_LIMIT", merged["RATE_LIMIT"], False, 0)
        if rate <= 0:
            raise ValueError("setting RATE_LIMIT must be > 0")
        if not math.isfinite(1 / rate):
            raise ValueError("setting RATE_LIMIT is too small: the wait for one token is beyond a float")
        raw_burst = merged.get("RATE_BURST")
        burst = max(1.0, rate) if _blank(raw_burst) else _as_number("RATE_BURST", raw_burst, False, 1)
        bucket = RateBucket(rate, burst, clock)

    version = "unknown" if _blank(merged.get("MODEL_VERSION")) else str(merged["MODEL_VERSION"])
    if model is None:
        source = merged.get("MODEL_PATH")
        if _blank(source) and not _blank(merged.get("MODEL_URI")):
            source = str(merged["MODEL_URI"]).removeprefix("file://")
        if not _blank(source):
            try:
                import skops.io

                model = skops.io.load(source)
            except Exception:  # noqa: BLE001 - the server stays up, not ready
                model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1  # a chunked stream stops one byte past 1 MiB
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ("endpoint", "status"), registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ("endpoint",), registry=registry)
    batch_hist = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128))
    pending = [0]
    pending_lock = threading.Lock()
    depth = Gauge("model_queue_depth", "Requests waiting for a model call", registry=registry)
    depth.set_function(lambda: pending[0])

    def add_pending(n: int) -> None:
        with pending_lock:
            pending[0] += n

    answers = LruAnswers(values["CACHE_SIZE"])

    def predict_batch(items):
        add_pending(-len(items))
        batch_hist.observe(len(items))
        counts = [len(item) for item in items]
        flat = np.array([row for item in items for row in item], dtype=float)
        predicted = list(np.asarray(model.predict(flat)).tolist())
        out, at = [], 0
        for n in counts:
            out.append(predicted[at:at + n])
            at += n
        return out

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, values["MAX_BATCH_SIZE"], values["MAX_WAIT_MS"] / 1000.0,
                               values["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = jsonify(error=exc.message)
        response.status_code = exc.status
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = jsonify(error=exc.description or exc.name)
        response.status_code = exc.code or 500
        return response

    @app.before_request
    def gate():
        g.t0 = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.url_rule is not None \
                and request.url_rule.rule == "/predict":
            wait = bucket.try_take()
            if wait:
                raise ApiError(429, "too many requests", retry_after=wait)

    @app.after_request
    def record(response):
        if request.path == "/metrics":
            return response
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        latency.labels(endpoint=endpoint).observe(time.perf_counter() - getattr(g, "t0", time.perf_counter()))
        return response

    @app.route("/health", methods=["GET"])
    def health():
        return jsonify(status="ok", model_version=version)

    @app.route("/ready", methods=["GET"])
    def ready():
        return (jsonify(status="ready"), 200) if model is not None else (jsonify(status="no model"), 503)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.route("/predict", methods=["POST"])
    def predict():
        body = _read_body(request.stream)
        if model is None:
            raise ApiError(503, "model not loaded")
        rows = _rows_of(body)
        found, cached = answers.lookup(rows)
        if found:
            return jsonify(predictions=cached, model_version=version)
        add_pending(1)
        try:
            future = batcher.submit(rows)
        except QueueFull:
            add_pending(-1)
            raise ApiError(429, "queue full", retry_after=1) from None
        except RuntimeError:
            add_pending(-1)
            raise ApiError(503, "shutting down") from None
        try:
            result = future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001
            raise ApiError(503, f"prediction failed: {type(exc).__name__}") from None
        answers.store(rows, result)
        return jsonify(predictions=result, model_version=version)

    return app
