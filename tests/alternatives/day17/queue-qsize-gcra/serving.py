"""Batched, cached, rate-limited model server (GCRA token bucket, dict LRU, callback gauge)."""

from __future__ import annotations

import json
import math
import os
import threading
import time

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

_UNSET = object()


class BadRequest400(Exception):
    pass


def _no_constants(token):
    raise BadRequest400(f"{token} is not allowed")


def _number(v):
    if type(v) not in (int, float):
        raise BadRequest400(f"{v!r} is not a number")
    try:
        out = float(v)
    except OverflowError:
        raise BadRequest400("number out of range") from None
    if math.isinf(out) or math.isnan(out):
        raise BadRequest400("numbers must be finite")
    return out


def rows_of(raw: bytes):
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except BadRequest400:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest400(f"not JSON: {exc}") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list) or len(feats) == 0:
        raise BadRequest400("need a non-empty 'features' list")
    if all(not isinstance(x, list) for x in feats):
        feats = [feats]
    key = []
    for row in feats:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest400("each row is 4 numbers")
        key.append(tuple(_number(v) for v in row))
    return tuple(key)


def _read(settings, name, *, default, integer, low, open_low=False):
    value = settings.get(name, _UNSET)
    if value is _UNSET or value is None or value == "":
        return default
    if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"setting {name}: {value!r} is not a number")
    text = value.strip() if isinstance(value, str) else value
    if integer:
        try:
            if isinstance(text, float):
                raise ValueError("a float")
            number = int(text)
            float(number)  # an int beyond a float's range is not finite: OverflowError
        except (ValueError, TypeError, OverflowError):
            try:
                as_float = float(text)
            except (ValueError, OverflowError):
                raise ValueError(f"setting {name}: {value!r} is not a number") from None
            if not math.isfinite(as_float) or as_float != int(as_float):
                raise ValueError(f"setting {name}: {value!r} is not a whole number")
            number = int(as_float)
    else:
        try:
            number = float(text)
        except (ValueError, OverflowError):
            raise ValueError(f"setting {name}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"setting {name}: {value!r} is not finite")
    if number < low or (open_low and number == low):
        raise ValueError(f"setting {name}: {value!r} is below its minimum {low}")
    return number


class GcraBucket:
    """Token bucket as the generic cell rate algorithm: one timestamp, no token count."""

    def __init__(self, rate, burst, clock):
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1.0) * self.interval
        self.clock = clock
        self.origin = clock()  # times are kept relative to this: a large epoch loses precision
        self.tat = 0.0
        self.lock = threading.Lock()

    def wait_needed(self) -> float:
        """0 when a token was taken; else the seconds until one is there."""
        with self.lock:
            now = self.clock() - self.origin
            tat = max(self.tat, now)
            early = tat - now - self.tolerance
            if early > 1e-9:
                return early
            self.tat = tat + self.interval
            return 0.0


class DictLRU:
    def __init__(self, capacity):
        self.capacity = capacity
        self.entries: dict = {}
        self.lock = threading.RLock()

    def lookup(self, key):
        with self.lock:
            if key in self.entries:
                value = self.entries.pop(key)
                self.entries[key] = value  # most recent at the end
                return value
        return None

    def store(self, key, value):
        if self.capacity <= 0:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            while len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


def create_app(config=None, *, model=None, clock=time.monotonic):
    settings = {k: v for k, v in os.environ.items()}
    settings.update(config or {})

    batch_max = _read(settings, "MAX_BATCH_SIZE", default=32, integer=True, low=1)
    wait_ms = _read(settings, "MAX_WAIT_MS", default=5, integer=False, low=0)
    queue_max = _read(settings, "MAX_QUEUE", default=256, integer=True, low=1)
    cache_max = _read(settings, "CACHE_SIZE", default=1024, integer=True, low=0)
    rate = _read(settings, "RATE_LIMIT", default=None, integer=False, low=0, open_low=True)
    bucket = None
    if rate is not None:
        if math.isinf(1 / rate):
            raise ValueError(f"RATE_LIMIT={rate!r} is too small: the interval between tokens is infinite")
        burst = _read(settings, "RATE_BURST", default=max(1, rate), integer=False, low=1)
        bucket = GcraBucket(rate, burst, clock)
    version = str(settings.get("MODEL_VERSION") or "dev")

    if model is None and settings.get("MODEL_PATH"):
        try:
            import skops.io

            model = skops.io.load(settings["MODEL_PATH"])
        except Exception:  # noqa: BLE001
            model = None

    app = Flask("serving")
    # 1 MiB + 1: on a chunked body get_data() stops here without an error, so the view checks the length.
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1
    reg = CollectorRegistry()
    c_requests = Counter("model_requests_total", "HTTP answers", ("endpoint", "status"), registry=reg)
    h_latency = Histogram("model_request_latency_seconds", "HTTP latency", ("endpoint",), registry=reg)
    h_batch = Histogram("model_batch_size", "requests per model call", registry=reg,
                        buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    counts = {"in": 0, "out": 0}
    counts_lock = threading.Lock()

    def depth():
        with counts_lock:
            return counts["in"] - counts["out"]

    Gauge("model_queue_depth", "requests not yet handed to the model", registry=reg).set_function(depth)
    cache = DictLRU(cache_max)

    def call_model(items):
        with counts_lock:
            counts["out"] += len(items)
        h_batch.observe(len(items))
        sizes = [len(x) for x in items]
        flat = np.array([r for x in items for r in x], dtype=float)
        preds = model.predict(flat).tolist()
        answers, i = [], 0
        for n in sizes:
            answers.append(preds[i:i + n])
            i += n
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(call_model, batch_max, wait_ms / 1000, queue_max)
        app.extensions["batcher"] = batcher

    def fail(code, message, retry_after=None):
        resp = jsonify({"error": message})
        resp.status_code = code
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    @app.before_request
    def gate():
        g.t0 = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.path == "/predict":
            wait = bucket.wait_needed()
            if wait > 0:
                return fail(429, "too many requests", max(1, math.ceil(wait)))
        return None

    @app.after_request
    def record(resp):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        if rule == "/metrics":
            return resp
        c_requests.labels(rule, str(resp.status_code)).inc()
        h_latency.labels(rule).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return fail(exc.code, exc.name)

    @app.route("/health", methods=["GET"])
    def health():
        return {"status": "ok", "model_version": version}

    @app.route("/ready", methods=["GET"])
    def ready():
        return ({"ready": True}, 200) if model is not None else ({"ready": False}, 503)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(reg), content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.route("/predict", methods=["POST"])
    def predict():
        if batcher is None:
            return fail(503, "model not loaded")
        raw = request.get_data()
        if len(raw) > 1 << 20:
            return fail(413, "Request Entity Too Large")
        try:
            key = rows_of(raw)
        except BadRequest400 as exc:
            return fail(400, str(exc))
        cached = cache.lookup(key)
        if cached is not None:
            return jsonify(cached)
        with counts_lock:
            counts["in"] += 1
        try:
            future = batcher.submit(key)
        except (QueueFull, RuntimeError) as exc:
            with counts_lock:
                counts["in"] -= 1
            if isinstance(exc, QueueFull):
                return fail(429, "queue full", 1)
            return fail(503, "shutting down")
        try:
            predictions = future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001
            return fail(503, f"prediction failed: {exc.__class__.__name__}")
        answer = {"predictions": predictions, "model_version": version}
        cache.store(key, answer)
        return jsonify(answer)

    return app
