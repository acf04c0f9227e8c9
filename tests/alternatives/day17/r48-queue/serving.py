"""Day 17 server, second style: a Settings table, MAX_CONTENT_LENGTH, before_request limiter."""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Number
from typing import Any

import numpy as np
import skops.io
from batcher import MicroBatcher, QueueFull
from flask import Flask, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20


@dataclass(frozen=True)
class Spec:
    default: Any
    minimum: float
    integer: bool
    exclusive: bool = False


SPECS = {
    "MAX_BATCH_SIZE": Spec(32, 1, True),
    "MAX_WAIT_MS": Spec(5.0, 0, False),
    "MAX_QUEUE": Spec(256, 1, True),
    "CACHE_SIZE": Spec(1024, 0, True),
    "RATE_LIMIT": Spec(None, 0, False, exclusive=True),
    "RATE_BURST": Spec(None, 1, False),
}


def setting(config: Mapping, name: str):
    """config wins; an empty value in config hides the environment (counts as set-to-default)."""
    if name in config:
        value = config[name]
    else:
        value = os.environ.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def to_number(name: str, value):
    spec = SPECS[name]
    if value is None:
        return spec.default
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: a bool is not a number")
    if isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number") from None
    elif isinstance(value, (Number, np.number)):
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
    else:
        raise ValueError(f"{name}: {value!r} is not a number")
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{name}: {value!r} is not finite")
    if x < spec.minimum or (spec.exclusive and x == spec.minimum):
        raise ValueError(f"{name}: {value!r} is below the minimum")
    if spec.integer:
        if not x.is_integer():
            raise ValueError(f"{name}: {value!r} is not a whole number")
        return int(x)
    return x


class TokenBucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()
        self.lock = threading.Lock()

    def acquire(self):
        with self.lock:
            now = self.clock()
            elapsed = max(0.0, now - self.stamp)
            self.stamp = max(self.stamp, now)
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - self.tokens) / self.rate))


class AnswerCache:
    """LRU on a plain dict: insertion order is recency order."""

    def __init__(self, capacity):
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

    def store(self, key, value):
        if not self.capacity:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            while len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


class BadInput(Exception):
    pass


def finite(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadInput("features must be numbers")
    try:
        f = float(v)
    except OverflowError:
        raise BadInput("feature too large") from None
    if not math.isfinite(f):
        raise BadInput("features must be finite")
    return f


def parse(payload):
    if not isinstance(payload, dict):
        raise BadInput("expected a JSON object")
    feats = payload.get("features")
    if not isinstance(feats, list) or len(feats) == 0:
        raise BadInput("'features' must be a non-empty list")
    if not any(isinstance(x, list) for x in feats):
        feats = [feats]
    rows = []
    for row in feats:
        if not isinstance(row, list) or len(row) != 4:
            raise BadInput("each row must have 4 features")
        rows.append(tuple(finite(v) for v in row))
    return tuple(rows)


def load_model(config):
    path = setting(config, "MODEL_PATH")
    if path is None:
        uri = setting(config, "MODEL_URI")
        if uri and str(uri).startswith("file://"):
            path = str(uri)[7:]
    if path is None:
        return None
    try:
        return skops.io.load(str(path))
    except Exception:  # noqa: BLE001
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = config if config is not None else {}
    values = {name: to_number(name, setting(config, name)) for name in SPECS if name != "RATE_BURST"}
    rate = values["RATE_LIMIT"]
    bucket = None
    if rate is not None:
        if math.isinf(1.0 / rate):
            raise ValueError("RATE_LIMIT: too small to ever refill a token")
        burst = to_number("RATE_BURST", setting(config, "RATE_BURST"))
        burst = burst if burst is not None else max(1.0, rate)
        bucket = TokenBucket(rate, burst, clock)
    raw_version = setting(config, "MODEL_VERSION")
    if name_in(config, "MODEL_VERSION") and config["MODEL_VERSION"] not in (None, ""):
        raw_version = config["MODEL_VERSION"]
    elif os.environ.get("MODEL_VERSION"):
        raw_version = os.environ["MODEL_VERSION"]
    version = str(raw_version) if raw_version not in (None, "") else "dev"

    if model is None:
        model = load_model(config)

    app = Flask(__name__)
    registry = CollectorRegistry()
    m_requests = Counter("model_requests_total", "answered requests", ["endpoint", "status"], registry=registry)
    m_latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=registry)
    m_batch = Histogram("model_batch_size", "requests per model call",
                        buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256], registry=registry)
    m_depth = Gauge("model_queue_depth", "requests waiting for a model call", registry=registry)
    waiting = [0]
    waiting_lock = threading.Lock()

    def bump(n):
        with waiting_lock:
            waiting[0] += n

    m_depth.set_function(lambda: waiting[0])
    cache = AnswerCache(values["CACHE_SIZE"])

    def predict_batch(items):
        bump(-len(items))
        m_batch.observe(len(items))
        sizes = [len(it) for it in items]
        X = np.array([r for it in items for r in it], dtype=np.float64)
        flat = np.asarray(model.predict(X)).tolist()
        out, i = [], 0
        for n in sizes:
            out.append(flat[i:i + n])
            i += n
        return out

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, values["MAX_BATCH_SIZE"], values["MAX_WAIT_MS"] / 1000,
                               values["MAX_QUEUE"])
        app.extensions["batcher"] = batcher

    def fail(code, msg, retry_after=None):
        resp = jsonify(error=msg)
        resp.status_code = code
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def on_http(e):
        return fail(e.code, e.description)

    @app.before_request
    def gate():
        g.t0 = time.perf_counter()
        if bucket is not None and request.method == "POST" and request.endpoint == "predict":
            wait = bucket.acquire()
            if wait:
                return fail(429, "too many requests", wait)
        return None

    @app.after_request
    def observe(resp):
        if request.endpoint == "metrics":
            return resp
        ep = request.url_rule.rule if request.url_rule else "unmatched"
        m_requests.labels(endpoint=ep, status=resp.status_code).inc()
        m_latency.labels(endpoint=ep).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return resp

    @app.route("/health", methods=["GET"])
    def health():
        return jsonify(status="ok", model_version=version)

    @app.route("/ready", methods=["GET"])
    def ready():
        if model is None:
            return fail(503, "not ready: no model")
        return jsonify(status="ready", model_version=version)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.route("/predict", methods=["POST"])
    def predict():
        if (request.content_length or 0) > LIMIT:
            return fail(413, "request body over 1 MiB")
        body = bytearray()
        for chunk in iter(lambda: request.stream.read(LIMIT + 1 - len(body)), b""):
            body += chunk
            if len(body) > LIMIT:
                return fail(413, "request body over 1 MiB")
        try:
            payload = json.loads(bytes(body))
        except (ValueError, RecursionError):
            payload = None
        try:
            rows = parse(payload)
        except BadInput as e:
            return fail(400, str(e))
        if model is None:
            return fail(503, "no model loaded")
        hit = cache.lookup(rows)
        if hit is not None:
            return jsonify(hit)
        bump(1)
        try:
            fut = batcher.submit(rows)
        except QueueFull:
            bump(-1)
            return fail(429, "queue full", 1)
        except RuntimeError:
            bump(-1)
            return fail(503, "shutting down")
        try:
            preds = fut.result(timeout=30)
        except Exception:  # noqa: BLE001
            return fail(503, "prediction failed")
        answer = {"predictions": preds, "model_version": version}
        cache.store(rows, answer)
        return jsonify(answer)

    return app


def name_in(config, name):
    return name in config
