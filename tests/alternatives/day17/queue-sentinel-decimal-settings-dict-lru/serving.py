"""Model server: settings table, plain-dict LRU, bucket checked in the view."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from decimal import Decimal, InvalidOperation

import numpy as np
from flask import Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from batcher import MicroBatcher, QueueFull

LIMIT = 1 << 20


class Reply(Exception):
    def __init__(self, status, message, retry_after=None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def setting(raw, name, *, default, low, integer, above=False):
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"setting {name}: not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"setting {name}: not a number: {value!r}") from None
    if not number.is_finite() or not math.isfinite(float(number)):
        raise ValueError(f"setting {name}: not finite: {value!r}")
    if number < low or (above and number == low):
        raise ValueError(f"setting {name}: too small: {value!r}")
    if integer:
        if number != number.to_integral_value():
            raise ValueError(f"setting {name}: must be whole: {value!r}")
        return int(number)
    result = float(number)
    if not math.isfinite(result):
        raise ValueError(f"setting {name}: not finite: {value!r}")
    return result


def no_constants(text):
    raise Reply(400, f"{text} is not allowed")


def read_rows(data):
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except Reply:
        raise
    except (ValueError, RecursionError) as exc:
        raise Reply(400, f"not JSON: {exc}") from None
    features = body.get("features") if isinstance(body, dict) else None
    if type(features) is not list or len(features) == 0:
        raise Reply(400, "need a non-empty 'features' list")
    batch = features if isinstance(features[0], list) else [features]
    parsed = []
    for row in batch:
        if type(row) is not list or len(row) != 4:
            raise Reply(400, "each row needs 4 numbers")
        if any(type(x) not in (int, float) for x in row):
            raise Reply(400, "features must be numbers")
        try:
            floats = tuple(float(x) for x in row)
        except OverflowError:
            raise Reply(400, "number too large") from None
        if not all(map(math.isfinite, floats)):
            raise Reply(400, "features must be finite")
        parsed.append(floats)
    return tuple(parsed)


def create_app(config=None, *, model=None, clock=time.monotonic):
    raw = {k: v for k, v in os.environ.items()}
    raw.update(config or {})
    batch_size = setting(raw, "MAX_BATCH_SIZE", default=32, low=1, integer=True)
    wait_ms = setting(raw, "MAX_WAIT_MS", default=5.0, low=0, integer=False)
    max_queue = setting(raw, "MAX_QUEUE", default=256, low=1, integer=True)
    cache_size = setting(raw, "CACHE_SIZE", default=1024, low=0, integer=True)
    rate = setting(raw, "RATE_LIMIT", default=None, low=0, integer=False, above=True)
    if rate is not None and (not rate or math.isinf(1 / rate)):  # a tiny Decimal can be 0.0 as a float
        raise ValueError(f"setting RATE_LIMIT: too small, a token would never come: {raw.get('RATE_LIMIT')!r}")
    burst = setting(raw, "RATE_BURST", default=max(1.0, rate), low=1, integer=False) if rate else None
    version = str(raw.get("MODEL_VERSION") or "dev")

    if model is None:
        path = raw.get("MODEL_PATH") or (raw.get("MODEL_URI") or "").removeprefix("file://")
        if path:
            try:
                import skops.io
                model = skops.io.load(path)
            except Exception:  # noqa: BLE001
                model = None

    registry = CollectorRegistry()
    requests_total = Counter("model_requests_total", "answers", ["endpoint", "status"], registry=registry)
    latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=registry)
    batch_hist = Histogram("model_batch_size", "requests per model call", registry=registry,
                           buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    depth = {"n": 0}
    depth_lock = threading.Lock()
    Gauge("model_queue_depth", "requests not yet in a model call", registry=registry).set_function(
        lambda: depth["n"])

    def add_depth(delta):
        with depth_lock:
            depth["n"] += delta

    lock = threading.Lock()
    answers: dict = {}

    def cache_get(key):
        with lock:
            if key in answers:
                answers[key] = answers.pop(key)
                return answers[key]
        return None

    def cache_put(key, value):
        if cache_size <= 0:
            return
        with lock:
            answers.pop(key, None)
            answers[key] = value
            while len(answers) > cache_size:
                del answers[next(iter(answers))]

    bucket = {"tokens": burst, "at": clock()} if rate else None
    bucket_lock = threading.Lock()

    def take_token():
        with bucket_lock:
            now = clock()
            bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["at"]) * rate)
            bucket["at"] = now
            if bucket["tokens"] >= 1:
                bucket["tokens"] -= 1
                return
            wait = math.ceil((1 - bucket["tokens"]) / rate)
        raise Reply(429, "too many requests", retry_after=max(1, wait))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT + 1  # get_data() stops here on a chunked body; predict checks

    batcher = None
    if model is not None:
        def predict_batch(items):
            add_depth(-len(items))
            batch_hist.observe(len(items))
            counts = [len(item) for item in items]
            flat = np.array([row for item in items for row in item], dtype=float)
            out = list(model.predict(flat).tolist())
            pieces = []
            for n in counts:
                pieces.append(out[:n])
                out = out[n:]
            return pieces

        batcher = MicroBatcher(predict_batch, batch_size, wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    def as_json(payload, status=200, headers=None):
        return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)

    @app.errorhandler(Reply)
    def on_reply(exc):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return as_json({"error": exc.message}, exc.status, headers)

    @app.errorhandler(413)
    def too_large(exc):
        return as_json({"error": "body over 1 MiB"}, 413)

    @app.errorhandler(404)
    def not_found(exc):
        return as_json({"error": "not found"}, 404)

    @app.errorhandler(405)
    def not_allowed(exc):
        return as_json({"error": "method not allowed"}, 405)

    @app.before_request
    def timer():
        request.environ["day17.start"] = time.perf_counter()

    @app.after_request
    def record(response):
        if request.path == "/metrics":
            return response
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        requests_total.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        latency.labels(endpoint=endpoint).observe(time.perf_counter() - request.environ.get("day17.start", 0))
        return response

    @app.route("/health", methods=["GET"])
    def health():
        return as_json({"status": "ok", "model_version": version})

    @app.route("/ready", methods=["GET"])
    def ready():
        return as_json({"ready": model is not None}, 200 if model is not None else 503)

    @app.route("/metrics", methods=["GET"])
    def scrape():
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.route("/predict", methods=["POST"])
    def predict():
        if bucket is not None:
            take_token()
        if batcher is None:
            raise Reply(503, "model not loaded")
        data = request.get_data()
        if len(data) > LIMIT:
            abort(413)
        rows = read_rows(data)
        cached = cache_get(rows)
        if cached is not None:
            return as_json({"predictions": cached, "model_version": version})
        add_depth(1)
        try:
            future = batcher.submit(rows)
        except QueueFull:
            add_depth(-1)
            raise Reply(429, "queue full", retry_after=1) from None
        except RuntimeError:
            add_depth(-1)
            raise Reply(503, "shutting down") from None
        try:
            result = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            raise Reply(503, "model call failed") from None
        cache_put(rows, result)
        return as_json({"predictions": result, "model_version": version})

    return app
