"""Serving at scale, second style: a settings table, a before_request rate limiter,
a dict-ordered LRU and a queue-depth gauge computed from a pending counter."""

from __future__ import annotations

import json
import math
import numbers
import os
import threading
import time
from typing import Any

import numpy as np
import skops.io
from flask import Flask, Response, abort, g, jsonify, make_response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

LIMIT = 1 << 20

# name: (default, minimum, whole, minimum excluded)
SPEC = {
    "MAX_BATCH_SIZE": (32, 1, True, False),
    "MAX_WAIT_MS": (5, 0, False, False),
    "MAX_QUEUE": (256, 1, True, False),
    "CACHE_SIZE": (1024, 0, True, False),
    "RATE_LIMIT": (None, 0, False, True),
}


class BadRequest(Exception):
    pass


def lookup(config, name):
    if name in config and config[name] is not None and config[name] != "":
        return config[name]
    env = os.environ.get(name, "")
    return env if env != "" else None


def to_number(name, raw, default, minimum, whole, exclusive):
    if raw is None:
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"setting {name}: a bool is not a number")
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"setting {name}: {raw!r} is not a number") from None
    elif isinstance(raw, numbers.Real):
        try:
            value = float(raw)
        except OverflowError:
            raise ValueError(f"setting {name}: {raw!r} is out of range") from None
    else:
        raise ValueError(f"setting {name}: {raw!r} is not a number")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"setting {name}: {raw!r} is not finite")
    if whole and value != math.floor(value):
        raise ValueError(f"setting {name}: {raw!r} is not a whole number")
    if value < minimum or (exclusive and value <= minimum):
        raise ValueError(f"setting {name}: {raw!r} is below its minimum {minimum}")
    return int(value) if whole else value


def decode_rows(body: bytes):
    def no_constants(token):
        raise BadRequest(f"{token} is not JSON")

    try:
        doc = json.loads(body, parse_constant=no_constants)
    except (ValueError, RecursionError):
        raise BadRequest("body is not JSON") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list) or len(feats) == 0:
        raise BadRequest("need a non-empty 'features' list")
    kinds = {isinstance(x, list) for x in feats}
    if kinds == {False}:
        feats = [feats]
    elif kinds != {True}:
        raise BadRequest("rows and numbers mixed")
    key = []
    for row in feats:
        if len(row) != 4:
            raise BadRequest("a row has 4 numbers")
        values = []
        for x in row:
            if type(x) is bool or not isinstance(x, (int, float)):
                raise BadRequest("a row has 4 numbers")
            try:
                f = float(x)
            except OverflowError:
                raise BadRequest("number too large") from None
            if not math.isfinite(f):
                raise BadRequest("numbers must be finite")
            values.append(f)
        key.append(tuple(values))
    return tuple(key)


class Cache:
    """LRU on a plain dict: insertion order is recency order."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.items = {}
        self.lock = threading.Lock()

    def lookup(self, key):
        with self.lock:
            if key in self.items:
                value = self.items.pop(key)
                self.items[key] = value
                return value
        return None

    def store(self, key, value):
        if self.capacity <= 0:
            return
        with self.lock:
            self.items.pop(key, None)
            self.items[key] = value
            while len(self.items) > self.capacity:
                del self.items[next(iter(self.items))]


class Bucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.level = burst
        self.stamp = clock()
        self.lock = threading.Lock()

    def acquire(self):
        with self.lock:
            now = self.clock()
            if now > self.stamp:
                self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
            self.stamp = max(self.stamp, now)
            if self.level >= 1:
                self.level -= 1
                return None
            return max(1, math.ceil((1 - self.level) / self.rate))


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = {} if config is None else config
    s = {name: to_number(name, lookup(config, name), *spec) for name, spec in SPEC.items()}
    bucket = None
    if s["RATE_LIMIT"] is not None:
        rate = s["RATE_LIMIT"]
        if math.isinf(1.0 / rate):
            raise ValueError("setting RATE_LIMIT: too small a rate")
        burst = to_number("RATE_BURST", lookup(config, "RATE_BURST"), max(1.0, rate), 1, False, False)
        bucket = Bucket(rate, burst, clock)
    model_version = lookup(config, "MODEL_VERSION")
    if model_version is None:
        model_version = "dev"
    model_version = str(model_version)

    if model is None:
        path = lookup(config, "MODEL_PATH")
        try:
            model = skops.io.load(str(path)) if path is not None else None
        except Exception:  # noqa: BLE001
            model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1
    cache = Cache(s["CACHE_SIZE"])
    registry = CollectorRegistry()
    counter = Counter("model_requests_total", "requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=registry)
    sizes = Histogram("model_batch_size", "requests per model call", registry=registry,
                      buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512])
    pending = [0]
    pending_lock = threading.Lock()

    def adjust(delta):
        with pending_lock:
            pending[0] += delta

    depth = Gauge("model_queue_depth", "requests waiting for a model call", registry=registry)
    depth.set_function(lambda: pending[0])

    def run_model(batch):
        adjust(-len(batch))
        sizes.observe(len(batch))
        counts = [len(rows) for rows in batch]
        flat = np.array([r for rows in batch for r in rows], dtype=np.float64)
        preds = np.asarray(model.predict(flat)).tolist()
        answers = []
        i = 0
        for n in counts:
            answers.append(preds[i:i + n])
            i += n
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(run_model, s["MAX_BATCH_SIZE"], s["MAX_WAIT_MS"] / 1000, s["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    def fail(code, message, retry_after=None):
        resp = make_response(jsonify(error=message), code)
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def on_http(e):
        resp = e.get_response()
        resp.set_data(json.dumps({"error": e.description}))
        resp.content_type = "application/json"
        return resp

    @app.errorhandler(BadRequest)
    def on_bad(e):
        return fail(400, str(e))

    @app.errorhandler(Exception)
    def on_crash(e):
        return fail(500, "internal error")

    @app.before_request
    def before():
        g.t0 = time.perf_counter()
        if bucket is not None and request.endpoint == "predict" and request.method == "POST":
            wait = bucket.acquire()
            if wait is not None:
                return fail(429, "too many requests", wait)
        return None

    @app.after_request
    def after(resp):
        if request.path == "/metrics":
            return resp
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        counter.labels(endpoint=endpoint, status=str(resp.status_code)).inc()
        latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return resp

    @app.route("/health", methods=["GET"])
    def health():
        return jsonify(status="ok", model_version=model_version)

    @app.route("/ready", methods=["GET"])
    def ready():
        if model is None:
            return fail(503, "no model")
        return jsonify(status="ready")

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def body_bytes():
        data = request.stream.read(LIMIT + 1)
        while data and len(data) <= LIMIT:
            more = request.stream.read(LIMIT + 1 - len(data))
            if not more:
                break
            data += more
        if len(data) > LIMIT:
            abort(413, "body over 1 MiB")
        return data

    @app.route("/predict", methods=["POST"])
    def predict():
        rows = decode_rows(body_bytes())
        if batcher is None:
            return fail(503, "no model")
        hit = cache.lookup(rows)
        if hit is not None:
            return jsonify(predictions=hit, model_version=model_version)
        adjust(+1)
        try:
            fut = batcher.submit(rows)
        except QueueFull:
            adjust(-1)
            return fail(429, "queue full", 1)
        except RuntimeError:
            adjust(-1)
            return fail(503, "shutting down")
        try:
            preds = fut.result(timeout=30)
        except BaseException:  # noqa: BLE001
            fut.cancel()
            return fail(503, "model call failed")
        cache.store(rows, preds)
        return jsonify(predictions=preds, model_version=model_version)

    return app
