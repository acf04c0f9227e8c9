"""Model server, function style: closures over the app's state, a GCRA-style rate limiter
(one 'theoretical arrival time' instead of a token count) in a before_request hook, and a
queue-depth gauge computed from the app's own counter."""

import json
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

DEFAULTS = {"MAX_BATCH_SIZE": 32, "MAX_WAIT_MS": 5, "MAX_QUEUE": 256, "CACHE_SIZE": 1024}


def _setting(config, name):
    value = config.get(name) if name in config else os.environ.get(name)
    if value is None or value == "" or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _as_number(name, value, integer, low, low_inclusive=True):
    if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"setting {name}={value!r} is not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"setting {name}={value!r} is not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"setting {name}={value!r} is not finite")
    if integer:
        if number != int(number):
            raise ValueError(f"setting {name}={value!r} is not a whole number")
        number = int(number)
    if number < low or (not low_inclusive and number == low):
        raise ValueError(f"setting {name}={value!r} is out of range")
    return number


def _bad(status, message, **headers):
    resp = jsonify({"error": message})
    resp.status_code = status
    resp.headers.update(headers)
    return resp


def _rows_from(body):
    """The request's rows as a float64 array of shape (n, 4), or a message saying what is wrong."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None, "body is not JSON"
    if type(doc) is not dict or type(doc.get("features")) is not list or len(doc["features"]) == 0:
        return None, "expected {\"features\": [[f, f, f, f], ...]}"
    feats = doc["features"]
    if all(type(x) is not list for x in feats):
        feats = [feats]
    for row in feats:
        if type(row) is not list or len(row) != 4 or any(type(x) not in (int, float) for x in row):
            return None, "each row must be 4 numbers"
    try:
        arr = np.array(feats, dtype=np.float64)
    except OverflowError:
        return None, "number too large"
    if not np.isfinite(arr).all():
        return None, "numbers must be finite"
    return arr, None


def create_app(config=None, *, model=None, clock=time.monotonic):
    config = dict(config or {})

    def num(name, integer=True, low=1, default=None, low_inclusive=True):
        raw = _setting(config, name)
        if raw is None:
            return DEFAULTS.get(name, default)
        return _as_number(name, raw, integer, low, low_inclusive)

    max_batch = num("MAX_BATCH_SIZE")
    max_wait_ms = num("MAX_WAIT_MS", integer=False, low=0)
    max_queue = num("MAX_QUEUE")
    cache_size = num("CACHE_SIZE", low=0)
    rate = num("RATE_LIMIT", integer=False, low=0, low_inclusive=False)
    burst = None
    if rate is not None:
        if math.isinf(1.0 / rate):
            raise ValueError(f"RATE_LIMIT={rate!r} is too small: the interval between tokens overflows a float")
        burst = num("RATE_BURST", integer=False, low=1, default=max(1.0, rate))
    version = _setting(config, "MODEL_VERSION")
    version = str(version) if version is not None else "0.0.0-dev"

    if model is None:
        path = _setting(config, "MODEL_PATH")
        if path is not None:
            try:
                import skops.io
                model = skops.io.load(str(path))
            except Exception:  # noqa: BLE001 - not ready rather than crashed
                model = None

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1  # chunked: the stream stops one byte past 1 MiB

    registry = CollectorRegistry()
    req_total = Counter("model_requests_total", "Requests by endpoint and status", ["endpoint", "status"],
                        registry=registry)
    req_latency = Histogram("model_request_latency_seconds", "Latency by endpoint", ["endpoint"], registry=registry)
    batch_hist = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    queued = {"n": 0}
    queued_lock = threading.Lock()

    def add_queued(delta):
        with queued_lock:
            queued["n"] += delta

    Gauge("model_queue_depth", "Requests not yet handed to the model", registry=registry).set_function(
        lambda: queued["n"])

    # --- rate limiting: GCRA, equivalent to a token bucket that starts full -------------------
    # State: how far the schedule runs ahead of the clock ("debt", in seconds) as of `last`.
    limiter = {"debt": 0.0, "last": None}
    limiter_lock = threading.Lock()

    def admit():
        """None when admitted, else the whole seconds to wait."""
        interval = 1.0 / rate
        capacity = burst * interval  # how far ahead of now the schedule may run
        with limiter_lock:
            now = clock()
            last = limiter["last"] if limiter["last"] is not None else now
            debt = max(0.0, limiter["debt"] - (now - last)) + interval
            limiter["last"] = now
            excess = debt - capacity
            if excess > 1e-9 * capacity:
                limiter["debt"] = debt - interval
                return max(1, math.ceil(excess - 1e-9 * capacity))
            limiter["debt"] = debt
            return None

    # --- cache ----------------------------------------------------------------------------------------
    cache = OrderedDict()
    cache_lock = threading.Lock()

    def cache_get(key):
        with cache_lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        return None

    def cache_put(key, value):
        if cache_size == 0:
            return
        with cache_lock:
            cache[key] = value
            cache.move_to_end(key)
            if len(cache) > cache_size:
                cache.popitem(last=False)

    # --- batching ---------------------------------------------------------------------------------------
    def predict_batch(items):
        add_queued(-len(items))
        batch_hist.observe(len(items))
        sizes = [len(a) for a in items]
        out = np.asarray(model.predict(np.concatenate(items))).tolist()
        answers, at = [], 0
        for n in sizes:
            answers.append(out[at:at + n])
            at += n
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, max_batch, max_wait_ms / 1000.0, max_queue)
        app.extensions["batcher"] = batcher

    @app.before_request
    def before():
        g.t0 = time.perf_counter()
        if rate is not None and request.path == "/predict" and request.method == "POST":
            wait_s = admit()
            if wait_s is not None:
                return _bad(429, "too many requests", **{"Retry-After": str(wait_s)})
        return None

    @app.after_request
    def after(resp):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        if endpoint == "/metrics":
            return resp
        req_total.labels(endpoint, str(resp.status_code)).inc()
        if "t0" in g:
            req_latency.labels(endpoint).observe(time.perf_counter() - g.t0)
        return resp

    @app.errorhandler(HTTPException)
    def on_http_error(err):
        return _bad(err.code, err.description)

    @app.route("/health")
    def health():
        return jsonify({"status": "ok", "model_version": version})

    @app.route("/ready")
    def ready():
        if model is None:
            return _bad(503, "model not loaded")
        return jsonify({"status": "ready"})

    @app.route("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    def _body(limit=1 << 20):
        got = []
        size = 0
        while size <= limit:
            piece = request.stream.read(limit + 1 - size)
            if not piece:
                return b"".join(got)
            got.append(piece)
            size += len(piece)
        return None  # more than limit bytes

    @app.route("/predict", methods=["POST"])
    def predict():
        if model is None:
            return _bad(503, "model not loaded")
        body = _body()
        if body is None:
            return _bad(413, "body over 1 MiB")
        arr, problem = _rows_from(body)
        if problem:
            return _bad(400, problem)
        key = (arr.shape, arr.tobytes())
        hit = cache_get(key)
        if hit is not None:
            return jsonify({"predictions": hit, "model_version": version})
        add_queued(1)
        try:
            fut = batcher.submit(arr)
        except QueueFull:
            add_queued(-1)
            return _bad(429, "queue full", **{"Retry-After": "1"})
        except RuntimeError:
            add_queued(-1)
            return _bad(503, "shutting down")
        try:
            preds = fut.result(timeout=30)
        except Exception:  # noqa: BLE001 - model error or timeout
            return _bad(503, "model call failed")
        cache_put(key, preds)
        return jsonify({"predictions": preds, "model_version": version})

    return app
