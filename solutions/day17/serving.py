"""Day 17 reference answer: the day-03 model server grown for load.

Every /predict request is one item of a MicroBatcher: concurrent requests share one model
call, and each gets its own rows' predictions back. In front of the batcher sit a token
bucket (optional) and an exact-match LRU cache of answers; behind it a bounded queue.
Overload is answered with 429 and `Retry-After`, never with a 500 or an ever-growing queue.
"""

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
from flask import Flask, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

N_FEATURES = 4
MAX_BODY_BYTES = 1024 * 1024
RESULT_TIMEOUT_S = 30.0
SETTINGS = ("MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE",
            "CACHE_SIZE", "RATE_LIMIT", "RATE_BURST")
DEFAULTS = {"MAX_BATCH_SIZE": 32, "MAX_WAIT_MS": 5.0, "MAX_QUEUE": 256, "CACHE_SIZE": 1024}

log = logging.getLogger("serving")


class InvalidInput(ValueError):
    """The request body is not a batch of 4-number rows; answered with 400."""


# --- settings ---------------------------------------------------------------------------


def _number(name: str, raw: Any, *, integer: bool) -> float:
    """A setting as a finite number; bools, NaN, infinities and fractions for counts are errors."""
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {raw!r}")
    try:
        value = float(raw.strip()) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    return value


def read_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Environment first, `config` over it; numbers checked with the setting's name in the error."""
    raw: dict[str, Any] = {key: os.environ[key] for key in SETTINGS if os.environ.get(key)}
    raw.update({key: value for key, value in (config or {}).items() if value is not None and value != ""})
    settings: dict[str, Any] = {"MODEL_PATH": raw.get("MODEL_PATH"),
                                "MODEL_VERSION": str(raw.get("MODEL_VERSION") or "unversioned")}
    settings["MAX_BATCH_SIZE"] = int(_number("MAX_BATCH_SIZE", raw.get("MAX_BATCH_SIZE", 32), integer=True))
    settings["MAX_WAIT_MS"] = _number("MAX_WAIT_MS", raw.get("MAX_WAIT_MS", 5), integer=False)
    settings["MAX_QUEUE"] = int(_number("MAX_QUEUE", raw.get("MAX_QUEUE", 256), integer=True))
    settings["CACHE_SIZE"] = int(_number("CACHE_SIZE", raw.get("CACHE_SIZE", 1024), integer=True))
    if settings["MAX_BATCH_SIZE"] < 1:
        raise ValueError("MAX_BATCH_SIZE must be at least 1")
    if settings["MAX_WAIT_MS"] < 0:
        raise ValueError("MAX_WAIT_MS must not be negative")
    if settings["MAX_QUEUE"] < 1:
        raise ValueError("MAX_QUEUE must be at least 1")
    if settings["CACHE_SIZE"] < 0:
        raise ValueError("CACHE_SIZE must not be negative")
    settings["RATE_LIMIT"] = None
    if "RATE_LIMIT" in raw:
        rate = _number("RATE_LIMIT", raw["RATE_LIMIT"], integer=False)
        if rate <= 0:
            raise ValueError("RATE_LIMIT must be above 0 (leave it unset for no limit)")
        if not math.isfinite(1 / rate):  # a token's wait, and so Retry-After, would be infinite
            raise ValueError(f"RATE_LIMIT={rate!r} is too small: the wait for one token is beyond a float")
        burst = _number("RATE_BURST", raw.get("RATE_BURST", max(1.0, rate)), integer=False)
        if burst < 1:
            raise ValueError("RATE_BURST must be at least 1")
        settings["RATE_LIMIT"], settings["RATE_BURST"] = rate, burst
    return settings


# --- request bodies (as day 03) -----------------------------------------------------------


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not a finite number")


def _feature(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"features must be numbers, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a feature is too large to be a finite number") from None
    if not math.isfinite(number):
        raise InvalidInput("features must be finite numbers")
    return number


def parse_features(body: bytes) -> tuple[tuple[float, ...], ...]:
    """The rows of a /predict body, as a hashable tuple; a single row is a batch of one."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not valid JSON") from None
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body must be a JSON object with a "features" list')
    rows = data["features"]
    if not isinstance(rows, list) or not rows:
        raise InvalidInput('"features" must be a non-empty list of rows')
    if not any(isinstance(row, list) for row in rows):
        rows = [rows]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"every row must be a list of {N_FEATURES} numbers")
        parsed.append(tuple(_feature(value) for value in row))
    return tuple(parsed)


def read_body(stream, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read to its end but never past `limit` + 1 bytes; a body over `limit` is a 413.

    A body sent in chunks has no Content-Length to check first, and a stream may hand it over
    in pieces, so read until the end or until one byte more than `limit` came.
    """
    body = bytearray()
    while len(body) <= limit:
        piece = stream.read(limit + 1 - len(body))
        if not piece:
            break
        body += piece
    if len(body) > limit:
        raise RequestEntityTooLarge(f"the body is over {limit} bytes")
    return bytes(body)


# --- the pieces in front of the batcher -----------------------------------------------------


class AnswerCache:
    """Exact-match LRU of answers, shared by the server's threads (so every step is locked)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key, value) -> None:
        if self._capacity == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


class TokenBucket:
    """Day 15's bucket: starts full, refills continuously, one token per request."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens, self._last = burst, clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._rate


def too_many(why: str, retry_after_s: float):
    answer = jsonify(error=why)
    answer.status_code = 429
    # Whole seconds, at least 1: Retry-After takes an integer, and 0 invites a hot retry loop.
    answer.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return answer


def load_model(path: str | None):
    # skops, never pickle: a model file would otherwise be code run at start-up.
    import skops.io

    if not path:
        raise ValueError("set MODEL_PATH to the model file")
    return skops.io.load(path)


# --- the app ----------------------------------------------------------------------------------


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    settings = read_settings(config)
    version = settings["MODEL_VERSION"]
    app = Flask(__name__)
    # Flask answers a Content-Length over this with 413 before reading anything; a body sent in chunks
    # has none, and its stream then ends one byte past the limit, so read_body can tell a body of
    # exactly 1 MiB from a longer one.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1

    if model is None:
        try:
            model = load_model(settings["MODEL_PATH"])
        except Exception as exc:  # alive but not ready, as on day 03
            log.error("model not loaded: %s", exc)

    registry = CollectorRegistry()
    answered = Counter("model_requests", "Requests answered, by route and HTTP status.",
                       ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "Time to answer a request, by route.",
                        ["endpoint"], registry=registry)
    batch_sizes = Histogram("model_batch_size", "Requests per model call.", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    queue_depth = Gauge("model_queue_depth", "Requests submitted and not yet in a model call.",
                        registry=registry)

    def predict_batch(items: list[tuple[tuple[float, ...], ...]]) -> list[list]:
        # Taken out of the queue the moment the model sees them.
        queue_depth.dec(len(items))
        batch_sizes.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = model.predict(np.asarray(rows, dtype=float)).tolist()
        answers, start = [], 0
        for item in items:
            answers.append(predictions[start:start + len(item)])
            start += len(item)
        return answers

    cache = AnswerCache(settings["CACHE_SIZE"])
    bucket = (TokenBucket(settings["RATE_LIMIT"], settings["RATE_BURST"], clock)
              if settings["RATE_LIMIT"] is not None else None)
    if model is not None:
        app.extensions["batcher"] = MicroBatcher(
            predict_batch, settings["MAX_BATCH_SIZE"], settings["MAX_WAIT_MS"] / 1000, settings["MAX_QUEUE"])

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            answered.labels(endpoint, str(response.status_code)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(InvalidInput)
    def invalid_input(exc: InvalidInput):
        return jsonify(error=str(exc)), 400

    @app.get("/metrics")
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if model is None:
            return jsonify(ready=False, error="model not loaded"), 503
        return jsonify(ready=True, model_version=version)

    @app.post("/predict")
    def predict():
        # The gate comes first: a refused request costs no parsing, no cache, no model.
        if bucket is not None and (wait_s := bucket.take()) > 0:
            return too_many("rate limit exceeded", wait_s)
        if model is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_features(read_body(request.stream))
        cached = cache.get(rows)
        if cached is not None:
            return jsonify(predictions=cached, model_version=version)
        batcher: MicroBatcher = app.extensions["batcher"]
        try:
            # Counted before submit so the worker's decrement can never run first.
            queue_depth.inc()
            future = batcher.submit(rows)
        except QueueFull:
            queue_depth.dec()
            return too_many("the queue is full", 1)
        except RuntimeError:
            queue_depth.dec()
            return jsonify(error="the server is shutting down"), 503
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except Exception as exc:
            log.error("model call failed: %r", exc)
            return jsonify(error="the model could not answer"), 503
        cache.put(rows, predictions)
        return jsonify(predictions=predictions, model_version=version)

    return app
