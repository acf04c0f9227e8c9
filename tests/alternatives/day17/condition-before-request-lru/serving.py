"""Tasks 2 and 3: the day-03 model server, batched, cached and guarded."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
RESULT_TIMEOUT_S = 30


class InvalidInput(ValueError):
    pass


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not a finite number")


def read_body(stream, limit: int = MAX_BODY) -> bytes:
    """Read to the end of the body or to limit + 1 bytes, whichever comes first; over limit is a 413."""
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge(f"the body is over {limit} bytes")
    return b"".join(chunks)


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not isinstance(data.get("features"), list) or not data["features"]:
        raise InvalidInput('the body must be an object with a non-empty "features" list')
    features = data["features"]
    if all(not isinstance(x, list) for x in features):
        features = [features]
    rows = []
    for row in features:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row must be a list of 4 numbers")
        clean = []
        for x in row:
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float)):
                raise InvalidInput("every feature must be a number")
            try:
                value = float(x)
            except OverflowError:
                raise InvalidInput("a feature is too large") from None
            if not math.isfinite(value):
                raise InvalidInput("every feature must be finite")
            clean.append(value)
        rows.append(clean)
    return rows


def _setting(settings: Mapping[str, Any], name: str, default, *, minimum: float, whole: bool,
             strict_minimum: bool = False):
    raw = settings.get(name)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, not a bool")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    if whole and not value.is_integer():
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    if value < minimum or (strict_minimum and value == minimum):
        raise ValueError(f"{name} must be {'>' if strict_minimum else '>='} {minimum:g}, got {raw!r}")
    return int(value) if whole else value


class LRU:
    def __init__(self, size: int) -> None:
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

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """None when a token was taken, else the seconds until the next whole token."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return (1 - self.tokens) / self.rate


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    names = ("MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "CACHE_SIZE",
             "RATE_LIMIT", "RATE_BURST")
    settings = {name: os.environ.get(name) for name in names}
    settings.update(config or {})
    max_batch_size = _setting(settings, "MAX_BATCH_SIZE", 32, minimum=1, whole=True)
    max_wait_ms = _setting(settings, "MAX_WAIT_MS", 5.0, minimum=0, whole=False)
    max_queue = _setting(settings, "MAX_QUEUE", 256, minimum=1, whole=True)
    cache_size = _setting(settings, "CACHE_SIZE", 1024, minimum=0, whole=True)
    rate = _setting(settings, "RATE_LIMIT", None, minimum=0, whole=False, strict_minimum=True)
    if rate is not None and math.isinf(1 / rate):
        raise ValueError(f"RATE_LIMIT must be large enough that 1 / RATE_LIMIT is finite, got {rate!r}")
    burst = _setting(settings, "RATE_BURST", None, minimum=1, whole=False) if rate is not None else None
    version = str(settings.get("MODEL_VERSION") or "") or "unknown"

    if model is None and settings.get("MODEL_PATH"):
        try:
            import skops.io

            model = skops.io.load(settings["MODEL_PATH"])
        except Exception:  # noqa: BLE001 - a broken model leaves the server not ready
            log.exception("could not load the model from %s", settings["MODEL_PATH"])
            model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1  # a chunked stream ends one byte past the limit: read_body tells
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "Requests answered", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"], registry=registry)
    batch_size = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet in a model call", registry=registry)
    cache = LRU(cache_size)
    bucket = TokenBucket(rate, burst if burst is not None else max(1.0, rate), clock) if rate is not None else None

    def predict_batch(items: list) -> list:
        queue_depth.dec(len(items))
        batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        out = np.asarray(model.predict(np.asarray(rows, dtype=float))).tolist()
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

    def error(status: int, message: str, **headers) -> Response:
        answer = jsonify({"error": message})
        answer.status_code = status
        for key, value in headers.items():
            answer.headers[key.replace("_", "-")] = value
        return answer

    @app.before_request
    def start_timer():
        request.environ["day17.start"] = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.path == "/predict":
            wait = bucket.take()
            if wait is not None:
                return error(429, "rate limit exceeded", Retry_After=str(max(1, math.ceil(wait))))
        return None

    @app.after_request
    def count(answer: Response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        if endpoint == "/metrics":
            return answer
        requests_total.labels(endpoint=endpoint, status=str(answer.status_code)).inc()
        latency.labels(endpoint=endpoint).observe(time.perf_counter() - request.environ.get("day17.start", 0))
        return answer

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

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
        if batcher is None:
            return error(503, "no model loaded")
        try:
            rows = parse_rows(read_body(request.stream))
        except InvalidInput as exc:
            return error(400, str(exc))
        key = tuple(tuple(row) for row in rows)
        hit = cache.get(key)
        if hit is not None:
            return jsonify(hit)
        queue_depth.inc()
        try:
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return error(429, "the server is busy", Retry_After="1")
        except RuntimeError:
            queue_depth.dec()
            return error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the model failed: the caller may retry
            return error(503, f"the model failed: {type(exc).__name__}")
        body = {"predictions": predictions, "model_version": version}
        cache.put(key, body)
        return jsonify(body)

    return app
