"""Model server: a GCRA rate limiter in the view, a dict-ordered LRU, metrics by decorator."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

_MISSING = object()


def _json(payload, status=200, headers=None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers or {}, mimetype="application/json")


# -- settings --------------------------------------------------------------------------------------
def _setting(config: Mapping[str, Any], name: str):
    value = config.get(name, _MISSING)
    if value is _MISSING:
        value = os.environ.get(name, _MISSING)
    return None if value is _MISSING or value is None or value == "" else value


def _as_number(name: str, value) -> float:
    if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"setting {name}: {value!r} is not a number")
    if isinstance(value, str):
        try:
            value = int(value)
        except (ValueError, OverflowError):
            try:
                value = float(value)
            except (ValueError, OverflowError):
                raise ValueError(f"setting {name}: {value!r} is not a number") from None
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond a float's range is not finite either
        finite = False
    if not finite:
        raise ValueError(f"setting {name}: {value!r} is not finite")
    return value


def _whole(name: str, value, default: int, least: int) -> int:
    if value is None:
        return default
    number = _as_number(name, value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"setting {name}: {value!r} is not a whole number")
        number = int(number)
    if number < least:
        raise ValueError(f"setting {name}: {value!r} is below {least}")
    return number


# -- rows -------------------------------------------------------------------------------------------
class BadRequest(Exception):
    pass


def _no_constants(token):
    raise BadRequest(f"{token} is not allowed")


def _to_float(x) -> float:
    if type(x) not in (int, float):
        raise BadRequest("features must be numbers")
    try:
        f = float(x)
    except OverflowError:
        raise BadRequest("a feature is too large") from None
    if f != f or f in (math.inf, -math.inf):
        raise BadRequest("features must be finite")
    return f


def _read_capped(stream, limit: int) -> bytes:
    """The body, but never more than limit + 1 bytes of it: more than limit is a 413."""
    body = bytearray()
    while len(body) <= limit:
        piece = stream.read(limit + 1 - len(body))
        if not piece:
            break
        body += piece
    if len(body) > limit:
        raise RequestEntityTooLarge("body over 1 MiB")
    return bytes(body)


def rows_of(body: bytes):
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except BadRequest:
        raise
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    features = document.get("features") if isinstance(document, dict) else None
    if type(features) is not list or len(features) == 0:
        raise BadRequest("expected {\"features\": [...]} with a non-empty list")
    if not any(isinstance(f, list) for f in features):
        features = [features]
    out = []
    for row in features:
        if type(row) is not list or len(row) != 4:
            raise BadRequest("each row must hold exactly 4 numbers")
        out.append(tuple(map(_to_float, row)))
    return tuple(out)


# -- the rate limiter: GCRA, the token bucket written as a "theoretical arrival time" ---------------
class Gcra:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.interval = 1.0 / rate
        self.slack = (burst - 1.0) * self.interval  # how far ahead of now the schedule may run
        self.clock = clock
        self.origin = clock()  # times kept relative to this, so an epoch-sized clock loses no precision
        self.tat = None
        self.lock = threading.Lock()

    def admit(self) -> int:
        """0 if admitted, else whole seconds until the next request would be."""
        with self.lock:
            now = self.clock() - self.origin
            tat = now if self.tat is None else max(self.tat, now)
            early = tat - now - self.slack
            if early <= 1e-9:
                self.tat = tat + self.interval
                return 0
            return max(1, math.ceil(early - 1e-9))


class Lru:
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

    def store(self, key, value):
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            while len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = dict(config or {})
    version = _setting(config, "MODEL_VERSION")
    version = "dev" if version is None else str(version)
    max_batch = _whole("MAX_BATCH_SIZE", _setting(config, "MAX_BATCH_SIZE"), 32, 1)
    wait_ms = _setting(config, "MAX_WAIT_MS")
    wait_ms = 5 if wait_ms is None else _as_number("MAX_WAIT_MS", wait_ms)
    if wait_ms < 0:
        raise ValueError("setting MAX_WAIT_MS must be >= 0")
    max_queue = _whole("MAX_QUEUE", _setting(config, "MAX_QUEUE"), 256, 1)
    cache_size = _whole("CACHE_SIZE", _setting(config, "CACHE_SIZE"), 1024, 0)
    limiter = None
    if (rate := _setting(config, "RATE_LIMIT")) is not None:
        rate = _as_number("RATE_LIMIT", rate)
        if rate <= 0:
            raise ValueError("setting RATE_LIMIT must be > 0")
        if math.isinf(1.0 / rate):
            raise ValueError("setting RATE_LIMIT is too small: the interval between tokens is beyond a float")
        burst = _setting(config, "RATE_BURST")
        burst = max(1, rate) if burst is None else _as_number("RATE_BURST", burst)
        if burst < 1:
            raise ValueError("setting RATE_BURST must be >= 1")
        limiter = Gcra(rate, burst, clock)

    if model is None:
        path = _setting(config, "MODEL_PATH")
        if path is None and (uri := _setting(config, "MODEL_URI")) is not None:
            path = str(uri).removeprefix("file://")
        if path is not None:
            try:
                import skops.io

                model = skops.io.load(path)
            except Exception:  # noqa: BLE001
                model = None

    app = Flask(__name__)
    # One byte over 1 MiB: a Content-Length above it is refused unread, and a chunked stream stops there,
    # so _read_capped sees whether the body went on past 1 MiB.
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1
    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "requests", ("endpoint", "status"), registry=registry)
    latency = Histogram("model_request_latency_seconds", "latency", ("endpoint",), registry=registry)
    batch_sizes = Histogram("model_batch_size", "requests per model call", registry=registry,
                            buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128])
    depth_gauge = Gauge("model_queue_depth", "requests not yet in a model call", registry=registry)
    pending = [0]
    pending_lock = threading.Lock()

    def add_pending(n: int) -> None:
        with pending_lock:
            pending[0] += n

    depth_gauge.set_function(lambda: pending[0])
    cache = Lru(cache_size) if cache_size > 0 else None

    batcher = None
    if model is not None:
        def predict_batch(items):
            add_pending(-len(items))
            batch_sizes.observe(len(items))
            counts = [len(item) for item in items]
            flat = np.array([row for item in items for row in item], dtype=float)
            predictions = list(np.asarray(model.predict(flat)).tolist())
            edges = np.cumsum([0] + counts)
            return [predictions[a:b] for a, b in zip(edges[:-1], edges[1:])]

        batcher = MicroBatcher(predict_batch, max_batch, wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    def measured(endpoint: str):
        def decorate(view):
            @wraps(view)
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                response = app.make_response(view(*args, **kwargs))
                requests_total.labels(endpoint, str(response.status_code)).inc()
                latency.labels(endpoint).observe(time.perf_counter() - started)
                return response
            return wrapper
        return decorate

    @app.before_request
    def start_clock():
        request.environ["day17.started"] = time.perf_counter()

    @app.errorhandler(HTTPException)
    def on_http_error(exc):
        response = _json({"error": exc.description}, exc.code)
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests_total.labels(endpoint, str(exc.code)).inc()
        started = request.environ.get("day17.started", time.perf_counter())
        latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.route("/health", methods=["GET"])
    @measured("/health")
    def health():
        return _json({"status": "ok", "model_version": version})

    @app.route("/ready", methods=["GET"])
    @measured("/ready")
    def ready():
        return _json({"ready": batcher is not None}, 200 if batcher is not None else 503)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.route("/predict", methods=["POST"])
    @measured("/predict")
    def predict():
        if limiter is not None and (wait := limiter.admit()):
            return _json({"error": "too many requests"}, 429, {"Retry-After": str(wait)})
        if batcher is None:
            return _json({"error": "model not loaded"}, 503)
        try:
            rows = rows_of(_read_capped(request.stream, 1 << 20))
        except BadRequest as exc:
            return _json({"error": str(exc)}, 400)
        if cache is not None and (hit := cache.lookup(rows)) is not None:
            return _json(hit)
        add_pending(1)
        try:
            future = batcher.submit(rows)
        except QueueFull:
            add_pending(-1)
            return _json({"error": "queue full"}, 429, {"Retry-After": "1"})
        except RuntimeError:
            add_pending(-1)
            return _json({"error": "shutting down"}, 503)
        try:
            body = {"predictions": future.result(timeout=30), "model_version": version}
        except Exception as exc:  # noqa: BLE001
            return _json({"error": f"model failed: {type(exc).__name__}"}, 503)
        if cache is not None:
            cache.store(rows, body)
        return _json(body)

    return app
