"""Model server: a per-app Server object; Flask hooks do the rate limit and the metrics."""

import json
import math
import os
import threading
import time
from numbers import Number

import numpy as np
from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from batcher import MicroBatcher, QueueFull

LIMIT = 1 << 20
DEFAULTS = {"MAX_BATCH_SIZE": 32, "MAX_WAIT_MS": 5, "MAX_QUEUE": 256, "CACHE_SIZE": 1024}


def read_setting(config, name):
    """config first, then the environment; '' or unset is None."""
    for source in (config, os.environ):
        if name in source and source[name] != "":
            return source[name]
    return None


def as_float(name, value):
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise ValueError(f"setting {name}: booleans are not numbers")
    if isinstance(value, str):
        text = value
    elif isinstance(value, (Number, np.number)):
        text = None
    else:
        raise ValueError(f"setting {name}: not a number: {value!r}")
    try:
        number = float(text if text is not None else value)
    except (ValueError, OverflowError):
        raise ValueError(f"setting {name}: not a number: {value!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"setting {name}: not finite: {value!r}")
    return number


def as_count(name, value, least):
    number = as_float(name, value)
    if not number.is_integer():
        raise ValueError(f"setting {name}: {value!r} is not a whole number")
    if number < least:
        raise ValueError(f"setting {name}: {value!r} is below {least}")
    return int(number)


class LRU:
    def __init__(self, capacity):
        self.capacity = capacity
        self.data = {}
        self.mutex = threading.Lock()

    def lookup(self, key):
        with self.mutex:
            if key in self.data:
                value = self.data.pop(key)
                self.data[key] = value
                return True, value
        return False, None

    def store(self, key, value):
        if self.capacity <= 0:
            return
        with self.mutex:
            self.data.pop(key, None)
            self.data[key] = value
            while len(self.data) > self.capacity:
                del self.data[next(iter(self.data))]


class Bucket:
    def __init__(self, rate, burst, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.level, self.last = burst, None
        self.mutex = threading.Lock()

    def try_take(self):
        with self.mutex:
            now = self.clock()
            if self.last is not None:
                self.level = min(self.burst, self.level + self.rate * (now - self.last))
            self.last = now
            if self.level >= 1:
                self.level -= 1
                return 0
            return max(1, math.ceil((1 - self.level) / self.rate))


def parse_features(raw):
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "body is not valid JSON"
    feats = doc.get("features") if isinstance(doc, dict) else None
    if type(feats) is not list or len(feats) == 0:
        return None, "'features' must be a non-empty list"
    ok = lambda v: type(v) in (int, float)  # noqa: E731 - json gives only these (bool excluded)
    if not isinstance(feats[0], list):
        feats = [feats]
    out = []
    for row in feats:
        if type(row) is not list or len(row) != 4 or not all(ok(v) for v in row):
            return None, "each row must be a list of 4 numbers"
        try:
            values = tuple(map(float, row))
        except OverflowError:
            return None, "feature out of range"
        if not all(math.isfinite(v) for v in values):
            return None, "features must be finite"
        out.append(values)
    return tuple(out), None


class Server:
    def __init__(self, config, model, clock):
        cfg = dict(config) if config else {}
        values = {}
        for name, least in (("MAX_BATCH_SIZE", 1), ("MAX_QUEUE", 1), ("CACHE_SIZE", 0)):
            raw = read_setting(cfg, name)
            values[name] = DEFAULTS[name] if raw is None else as_count(name, raw, least)
        raw = read_setting(cfg, "MAX_WAIT_MS")
        wait_ms = DEFAULTS["MAX_WAIT_MS"] if raw is None else as_float("MAX_WAIT_MS", raw)
        if not wait_ms >= 0:
            raise ValueError("setting MAX_WAIT_MS must be >= 0")
        self.bucket = None
        raw_rate = read_setting(cfg, "RATE_LIMIT")
        if raw_rate is not None:
            rate = as_float("RATE_LIMIT", raw_rate)
            if not rate > 0:
                raise ValueError("setting RATE_LIMIT must be > 0 (leave it unset for no limit)")
            if math.isinf(1 / rate):
                raise ValueError("setting RATE_LIMIT is too small: the wait for one token would be infinite")
            raw_burst = read_setting(cfg, "RATE_BURST")
            burst = max(1.0, rate) if raw_burst is None else as_float("RATE_BURST", raw_burst)
            if burst < 1:
                raise ValueError("setting RATE_BURST must be >= 1")
            self.bucket = Bucket(rate, burst, clock)
        version = read_setting(cfg, "MODEL_VERSION")
        self.version = "dev" if version is None else str(version)

        if model is None:
            path = read_setting(cfg, "MODEL_PATH") or "model.skops"
            try:
                import skops.io
                model = skops.io.load(path, trusted=None)
            except Exception:
                model = None
        self.model = model
        self.cache = LRU(values["CACHE_SIZE"])

        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "answered requests", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "request latency", ("endpoint",),
                                 registry=self.registry)
        self.batch_sizes = Histogram("model_batch_size", "requests per model call", registry=self.registry,
                                     buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
        self._submitted = 0
        self._handed = 0
        self._count_lock = threading.Lock()
        Gauge("model_queue_depth", "requests not yet handed to the model",
              registry=self.registry).set_function(self._depth)

        self.batcher = None
        if self.model is not None:
            self.batcher = MicroBatcher(self._predict_batch, values["MAX_BATCH_SIZE"], wait_ms / 1000.0,
                                        values["MAX_QUEUE"])

    def _depth(self):
        with self._count_lock:
            return self._submitted - self._handed

    def _predict_batch(self, items):
        with self._count_lock:
            self._handed += len(items)
        self.batch_sizes.observe(len(items))
        sizes = [len(rows) for rows in items]
        matrix = np.array([r for rows in items for r in rows], dtype=np.float64)
        predicted = list(np.asarray(self.model.predict(matrix)).tolist())
        if len(predicted) != len(matrix):
            raise ValueError("model returned the wrong number of predictions")
        bounds = np.cumsum([0] + sizes).tolist()
        return [predicted[a:b] for a, b in zip(bounds, bounds[1:])]

    def submit(self, rows):
        with self._count_lock:
            self._submitted += 1
        try:
            return self.batcher.submit(rows)
        except BaseException:
            with self._count_lock:
                self._submitted -= 1
            raise


def error(message, status, headers=None):
    resp = Response(json.dumps({"error": message}), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def read_limited():
    declared = request.content_length
    if declared is not None and declared > LIMIT:
        raise RequestEntityTooLarge()
    stream, parts, size = request.stream, [], 0
    while True:
        part = stream.read(64 * 1024)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > LIMIT:
            raise RequestEntityTooLarge()
    return b"".join(parts)


def create_app(config=None, *, model=None, clock=time.monotonic):
    server = Server(config, model, clock)
    app = Flask(__name__)
    if server.batcher is not None:
        app.extensions["batcher"] = server.batcher

    @app.before_request
    def gatekeeper():
        g.t0 = time.perf_counter()
        rule = request.url_rule
        if server.bucket is not None and rule is not None and rule.rule == "/predict" and request.method == "POST":
            wait = server.bucket.try_take()
            if wait:
                return error("too many requests", 429, {"Retry-After": str(wait)})
        return None

    @app.after_request
    def record(resp):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        if endpoint != "/metrics":
            server.requests.labels(endpoint=endpoint, status=resp.status_code).inc()
            server.latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return resp

    @app.errorhandler(HTTPException)
    def on_http_error(exc):
        resp = error(exc.description or exc.name, exc.code)
        allow = exc.get_response().headers.get("Allow")
        if allow:
            resp.headers["Allow"] = allow
        return resp

    @app.route("/health", methods=["GET"])
    def health():
        return {"status": "ok", "model_version": server.version}

    @app.route("/ready", methods=["GET"])
    def ready():
        return ({"ready": True}, 200) if server.model is not None else ({"ready": False}, 503)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(server.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.route("/predict", methods=["POST"])
    def predict():
        if server.model is None:
            return error("model not loaded", 503)
        rows, problem = parse_features(read_limited())
        if problem:
            return error(problem, 400)
        hit, answer = server.cache.lookup(rows)
        if not hit:
            try:
                fut = server.submit(rows)
            except QueueFull:
                return error("queue full, retry later", 429, {"Retry-After": "1"})
            except RuntimeError:
                return error("shutting down", 503)
            try:
                answer = fut.result(timeout=30)
            except Exception as exc:
                return error(f"prediction failed: {exc.__class__.__name__}", 503)
            server.cache.store(rows, answer)
        return {"predictions": answer, "model_version": server.version}

    return app
