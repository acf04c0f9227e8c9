"""Day 17 server, written another way: settings table, dict-ordered LRU, bucket in the view."""

from __future__ import annotations

import json
import math
import os
import threading
import time

import numpy as np
import skops.io
from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, NotFound

from batcher import MicroBatcher, QueueFull

LIMIT = 1 << 20


def _read_setting(config, env, name):
    value = config[name] if name in config else env.get(name)
    if value is None or value == "" or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _as_float(name, value):
    if isinstance(value, str):
        text = value.strip()
    elif type(value).__name__ in ("bool", "bool_"):
        raise ValueError(f"setting {name}: a bool is not a number")
    else:
        text = value
    try:
        number = float(text)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"setting {name}: {value!r} is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"setting {name}: {value!r} is not finite")
    return number


def _as_whole(name, value, low):
    number = _as_float(name, value)
    if number != int(number):
        raise ValueError(f"setting {name}: {value!r} is not a whole number")
    if number < low:
        raise ValueError(f"setting {name}: {value!r} is below {low}")
    return int(number)


class Answers:
    """LRU over a plain dict: re-inserting a key moves it to the end."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.entries = {}
        self.lock = threading.Lock()

    def lookup(self, key):
        with self.lock:
            try:
                value = self.entries.pop(key)
            except KeyError:
                return None
            self.entries[key] = value
            return value

    def store(self, key, value):
        if not self.capacity:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            while len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


def _rows_of(raw: bytes):
    """The request's rows as a tuple of float tuples, or an error message."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "the body should be JSON"
    features = body.get("features") if isinstance(body, dict) else None
    if type(features) is not list or len(features) == 0:
        return None, "expected {\"features\": [[f, f, f, f], ...]}"
    if all(type(x) is not list for x in features):
        features = [features]
    rows = []
    for row in features:
        if type(row) is not list or len(row) != 4:
            return None, "each row should be 4 numbers"
        values = []
        for x in row:
            if type(x) not in (int, float):
                return None, "each feature should be a number"
            try:
                f = float(x)
            except OverflowError:
                return None, "a feature is out of range"
            if not math.isfinite(f):
                return None, "each feature should be finite"
            values.append(f)
        rows.append(tuple(values))
    return tuple(rows), None


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = {} if config is None else config
    env = os.environ

    def get(name):
        return _read_setting(config, env, name)

    version = get("MODEL_VERSION")
    version = "dev" if version is None else str(version)
    max_batch = _as_whole("MAX_BATCH_SIZE", get("MAX_BATCH_SIZE"), 1) if get("MAX_BATCH_SIZE") is not None else 32
    wait_ms = 5.0
    if get("MAX_WAIT_MS") is not None:
        wait_ms = _as_float("MAX_WAIT_MS", get("MAX_WAIT_MS"))
        if wait_ms < 0:
            raise ValueError("setting MAX_WAIT_MS should be >= 0")
    max_queue = _as_whole("MAX_QUEUE", get("MAX_QUEUE"), 1) if get("MAX_QUEUE") is not None else 256
    cache_size = _as_whole("CACHE_SIZE", get("CACHE_SIZE"), 0) if get("CACHE_SIZE") is not None else 1024

    bucket = None
    if get("RATE_LIMIT") is not None:
        rate = _as_float("RATE_LIMIT", get("RATE_LIMIT"))
        if rate <= 0:
            raise ValueError("setting RATE_LIMIT should be > 0")
        if math.isinf(1 / rate):
            raise ValueError("setting RATE_LIMIT is too small: one token would take an infinite time")
        burst = max(1.0, rate)
        if get("RATE_BURST") is not None:
            burst = _as_float("RATE_BURST", get("RATE_BURST"))
            if burst < 1:
                raise ValueError("setting RATE_BURST should be >= 1")
        bucket = {"rate": rate, "burst": burst, "tokens": burst, "at": clock(), "lock": threading.Lock()}

    if model is None:
        path = get("MODEL_PATH")
        if path is not None:
            try:
                model = skops.io.load(str(path), trusted=None)
            except Exception:  # noqa: BLE001
                model = None

    registry = CollectorRegistry()
    counter = Counter("model_requests_total", "answers", ("endpoint", "status"), registry=registry)
    latency = Histogram("model_request_latency_seconds", "latency", ("endpoint",), registry=registry)
    sizes = Histogram("model_batch_size", "requests per model call", registry=registry,
                      buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    waiting = {"n": 0}
    waiting_lock = threading.Lock()

    def add_waiting(delta):
        with waiting_lock:
            waiting["n"] += delta

    depth = Gauge("model_queue_depth", "requests not yet handed to the model", registry=registry)
    depth.set_function(lambda: waiting["n"])

    cache = Answers(cache_size)

    def run_model(items):
        add_waiting(-len(items))
        sizes.observe(len(items))
        counts = [len(item) for item in items]
        matrix = np.array([list(row) for item in items for row in item], dtype=np.float64)
        predicted = list(np.asarray(model.predict(matrix)).tolist())
        if len(predicted) != len(matrix):
            raise ValueError("the model answered the wrong number of rows")
        out, at = [], 0
        for n in counts:
            out.append(predicted[at:at + n])
            at += n
        return out

    batcher = MicroBatcher(run_model, max_batch, wait_ms / 1000.0, max_queue) if model is not None else None

    app = Flask(__name__)
    if batcher is not None:
        app.extensions["batcher"] = batcher

    def json_answer(payload, status, **headers):
        response = jsonify(payload)
        response.status_code = status
        for key, value in headers.items():
            response.headers[key.replace("_", "-")] = value
        return response

    @app.errorhandler(HTTPException)
    def as_json(exc):
        return json_answer({"error": exc.description or exc.name}, exc.code or 500,
                           **({"Allow": exc.get_response().headers["Allow"]} if exc.code == 405 else {}))

    @app.before_request
    def begin():
        request.environ["katas.start"] = time.perf_counter()

    @app.after_request
    def count(response):
        rule = request.url_rule
        endpoint = rule.rule if rule is not None and not isinstance(request.routing_exception, NotFound) else "unmatched"
        if endpoint != "/metrics":
            counter.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - request.environ.get("katas.start", 0))
        return response

    def take_token():
        with bucket["lock"]:
            now = clock()
            bucket["tokens"] = min(bucket["burst"], bucket["tokens"] + (now - bucket["at"]) * bucket["rate"])
            bucket["at"] = now
            if bucket["tokens"] >= 1:
                bucket["tokens"] -= 1
                return 0
            return max(1, math.ceil((1 - bucket["tokens"]) / bucket["rate"]))

    @app.route("/health", methods=["GET"])
    def health():
        return {"status": "ok", "model_version": version}

    @app.route("/ready", methods=["GET"])
    def ready():
        if model is None:
            return json_answer({"error": "model not loaded"}, 503)
        return {"status": "ready"}

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.route("/predict", methods=["POST"])
    def predict():
        if bucket is not None:
            retry = take_token()
            if retry:
                return json_answer({"error": "rate limited"}, 429, Retry_After=str(retry))
        length = request.content_length
        if length is not None and length > LIMIT:
            return json_answer({"error": "body over 1 MiB"}, 413)
        raw = request.stream.read(LIMIT + 1)
        if len(raw) > LIMIT:
            return json_answer({"error": "body over 1 MiB"}, 413)
        if model is None:
            return json_answer({"error": "no model"}, 503)
        rows, problem = _rows_of(raw)
        if problem:
            return json_answer({"error": problem}, 400)
        hit = cache.lookup(rows)
        if hit is not None:
            return {"predictions": hit, "model_version": version}
        add_waiting(1)
        try:
            future = batcher.submit(rows)
        except QueueFull:
            add_waiting(-1)
            return json_answer({"error": "queue full"}, 429, Retry_After="1")
        except RuntimeError:
            add_waiting(-1)
            return json_answer({"error": "shutting down"}, 503)
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return json_answer({"error": "prediction failed"}, 503)
        cache.store(rows, predictions)
        return {"predictions": predictions, "model_version": version}

    return app
