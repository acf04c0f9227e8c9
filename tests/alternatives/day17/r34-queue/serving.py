"""Day 17 server, second style: settings from a table, a plain-dict LRU of response bodies,
the bucket in a before_request hook, the body read from the stream by hand, and a queue gauge
computed from two counters."""
from __future__ import annotations

import json
import math
import os
import threading
import time
from numbers import Real

import numpy as np
import skops.io
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

LIMIT = 1 << 20

# name: (default, minimum, minimum excluded, whole number)
SETTINGS = {
    "MAX_BATCH_SIZE": (32, 1, False, True),
    "MAX_WAIT_MS": (5, 0, False, False),
    "MAX_QUEUE": (256, 1, False, True),
    "CACHE_SIZE": (1024, 0, False, True),
    "RATE_LIMIT": (None, 0, True, False),
    "RATE_BURST": (None, 1, False, False),
}


def read_settings(config):
    merged = {}
    for name in (*SETTINGS, "MODEL_PATH", "MODEL_VERSION"):
        raw = config[name] if name in config else os.environ.get(name)
        merged[name] = None if raw is None or raw == "" else raw
    out = {"MODEL_PATH": merged["MODEL_PATH"], "MODEL_VERSION": merged["MODEL_VERSION"]}
    for name, (default, low, excluded, whole) in SETTINGS.items():
        raw = merged[name]
        if raw is None:
            out[name] = default
            continue
        if name == "RATE_BURST" and out["RATE_LIMIT"] is None:
            out[name] = None
            continue
        if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (str, Real, np.number)):
            raise ValueError(f"{name}: expected a number, got {raw!r}")
        try:
            value = float(raw)
        except (ValueError, OverflowError) as e:
            raise ValueError(f"{name}: not a number: {raw!r}") from e
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{name}: must be finite, got {raw!r}")
        if value < low or (excluded and value <= low):
            raise ValueError(f"{name}: below its minimum {low}: {raw!r}")
        if whole and value != math.floor(value):
            raise ValueError(f"{name}: must be a whole number, got {raw!r}")
        out[name] = int(value) if whole else value
    if out["RATE_LIMIT"] is not None and math.isinf(1 / out["RATE_LIMIT"]):
        raise ValueError(f"RATE_LIMIT: too small, the wait for one token is infinite: {merged['RATE_LIMIT']!r}")
    if out["RATE_LIMIT"] is not None and out["RATE_BURST"] is None:
        out["RATE_BURST"] = max(1.0, out["RATE_LIMIT"])
    return out


class BadRequest(Exception):
    pass


def rows_of(payload):
    if not isinstance(payload, dict) or "features" not in payload:
        raise BadRequest("expected {\"features\": [...]}")
    feats = payload["features"]
    if not isinstance(feats, list) or len(feats) == 0:
        raise BadRequest("features must be a non-empty list")
    if not isinstance(feats[0], list):
        feats = [feats]
    key = []
    for row in feats:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("each row needs exactly 4 numbers")
        if any(type(v) not in (int, float) for v in row):
            raise BadRequest("features must be numbers")
        try:
            vals = tuple(float(v) for v in row)
        except OverflowError:
            raise BadRequest("number too large") from None
        if not all(math.isfinite(v) for v in vals):
            raise BadRequest("features must be finite")
        key.append(vals)
    return tuple(key)


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def create_app(config=None, *, model=None, clock=time.monotonic):
    s = read_settings(config if config is not None else {})
    version = s["MODEL_VERSION"] if s["MODEL_VERSION"] is not None else "0.0.0"
    if model is None:
        try:
            model = skops.io.load(s["MODEL_PATH"] or "/app/model.skops", trusted=None)
        except Exception:
            model = None

    registry = CollectorRegistry()
    counter = Counter("model_requests_total", "requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=registry)
    sizes = Histogram("model_batch_size", "requests per model call", registry=registry,
                      buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512])
    submitted = [0]
    handed = [0]
    depth_lock = threading.Lock()
    Gauge("model_queue_depth", "requests waiting", registry=registry).set_function(
        lambda: submitted[0] - handed[0])

    def bump(which, n):
        with depth_lock:
            which[0] += n

    def predict_batch(items):
        bump(handed, len(items))
        sizes.observe(len(items))
        flat = np.array([r for it in items for r in it], dtype=np.float64)
        preds = model.predict(flat)
        preds = preds.tolist() if hasattr(preds, "tolist") else list(preds)
        out, i = [], 0
        for it in items:
            out.append(preds[i:i + len(it)])
            i += len(it)
        return out

    app = Flask(__name__)
    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, s["MAX_BATCH_SIZE"], s["MAX_WAIT_MS"] / 1000, s["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    cache: dict = {}
    cache_lock = threading.Lock()
    capacity = s["CACHE_SIZE"]

    def cache_get(key):
        with cache_lock:
            if key in cache:
                value = cache.pop(key)
                cache[key] = value
                return value
        return None

    def cache_put(key, value):
        if not capacity:
            return
        with cache_lock:
            cache.pop(key, None)
            cache[key] = value
            while len(cache) > capacity:
                del cache[next(iter(cache))]

    bucket = None
    if s["RATE_LIMIT"] is not None:
        bucket = {"tokens": s["RATE_BURST"], "at": clock(), "lock": threading.Lock()}

    def answer(payload, status=200, headers=None):
        return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers or {})

    @app.before_request
    def gate():
        request.environ["day17.t0"] = time.perf_counter()
        if bucket is None or request.method != "POST" or request.url_rule is None or request.url_rule.rule != "/predict":
            return None
        rate, burst = s["RATE_LIMIT"], s["RATE_BURST"]
        with bucket["lock"]:
            now = clock()
            bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["at"]) * rate)
            bucket["at"] = now
            if bucket["tokens"] >= 1:
                bucket["tokens"] -= 1
                return None
            missing = 1 - bucket["tokens"]
        return answer({"error": "too many requests"}, 429, {"Retry-After": str(max(1, math.ceil(missing / rate)))})

    @app.after_request
    def record(response):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        if rule != "/metrics":
            counter.labels(endpoint=rule, status=response.status_code).inc()
            latency.labels(endpoint=rule).observe(time.perf_counter() - request.environ.get("day17.t0", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def http_error(e):
        return answer({"error": f"{e.code} {e.name}"}, e.code)

    @app.route("/health", methods=["GET"])
    def health():
        return answer({"status": "ok", "model_version": version})

    @app.route("/ready", methods=["GET"])
    def ready():
        return answer({"ready": model is not None}, 200 if model is not None else 503)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    @app.route("/predict", methods=["POST"])
    def predict():
        declared = request.content_length
        if declared is not None and declared > LIMIT:
            return answer({"error": "body over 1 MiB"}, 413)
        raw = request.stream.read(LIMIT + 1)
        if len(raw) > LIMIT:
            return answer({"error": "body over 1 MiB"}, 413)
        try:
            payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
            key = rows_of(payload)
        except (UnicodeDecodeError, ValueError, RecursionError, BadRequest) as e:
            return answer({"error": f"bad request: {e}"}, 400)
        if batcher is None:
            return answer({"error": "model not loaded"}, 503)
        cached = cache_get(key)
        if cached is not None:
            return answer({"predictions": cached, "model_version": version})
        bump(submitted, 1)
        try:
            fut = batcher.submit(key)
        except QueueFull:
            bump(submitted, -1)
            return answer({"error": "queue full"}, 429, {"Retry-After": "1"})
        except RuntimeError:
            bump(submitted, -1)
            return answer({"error": "shutting down"}, 503)
        try:
            preds = fut.result(timeout=30)
        except Exception as e:
            fut.cancel()
            return answer({"error": f"prediction failed: {type(e).__name__}"}, 503)
        cache_put(key, preds)
        return answer({"predictions": preds, "model_version": version})

    return app
