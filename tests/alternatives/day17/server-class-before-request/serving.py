"""The day-17 server as a class: settings in a dataclass, the rate limit in before_request,
a dict-ordered LRU, the queue depth as a Gauge over a plain counter, rows batched per request."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

NAMES = ["MODEL_PATH", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE", "CACHE_SIZE",
         "RATE_LIMIT", "RATE_BURST"]


class BadRequest(Exception):
    pass


def num(name, value, whole=False, minimum=None, strict_min=False):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: not a number")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: not a number: {value!r}") from None
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{name}: must be finite")
    if whole and not x.is_integer():
        raise ValueError(f"{name}: must be a whole number")
    if minimum is not None and (x <= minimum if strict_min else x < minimum):
        raise ValueError(f"{name}: too small")
    return int(x) if whole else x


@dataclass
class Settings:
    model_path: str | None
    version: str
    batch: int
    wait_ms: float
    queue: int
    cache: int
    rate: float | None
    burst: float | None

    @classmethod
    def read(cls, config):
        merged = {}
        for n in NAMES:
            v = (config or {}).get(n)
            if v is None or v == "":
                v = os.environ.get(n) or None
            merged[n] = v
        rate = None if merged["RATE_LIMIT"] is None else num("RATE_LIMIT", merged["RATE_LIMIT"], minimum=0,
                                                                  strict_min=True)
        burst = None
        if rate is not None:
            if math.isinf(1 / rate):
                raise ValueError(f"RATE_LIMIT={rate!r} is too small: the wait for one token is infinite")
            burst = num("RATE_BURST", merged["RATE_BURST"], minimum=1) if merged["RATE_BURST"] is not None \
                else max(1.0, rate)
        return cls(
            model_path=merged["MODEL_PATH"],
            version=merged["MODEL_VERSION"] or "dev",
            batch=num("MAX_BATCH_SIZE", merged["MAX_BATCH_SIZE"] or 32, whole=True, minimum=1),
            wait_ms=num("MAX_WAIT_MS", 5 if merged["MAX_WAIT_MS"] is None else merged["MAX_WAIT_MS"], minimum=0),
            queue=num("MAX_QUEUE", merged["MAX_QUEUE"] or 256, whole=True, minimum=1),
            cache=num("CACHE_SIZE", 1024 if merged["CACHE_SIZE"] is None else merged["CACHE_SIZE"], whole=True,
                      minimum=0),
            rate=rate, burst=burst)


def rows_of(body: bytes):
    def no_constants(c):
        raise BadRequest(f"{c} is not allowed")

    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=no_constants)
    except BadRequest:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise BadRequest("invalid JSON") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list) or len(feats) == 0:
        raise BadRequest("need a non-empty 'features' list")
    if all(not isinstance(f, list) for f in feats):
        feats = [feats]
    out = []
    for row in feats:
        if not isinstance(row, list) or len(row) != 4:
            raise BadRequest("each row must have 4 numbers")
        clean = []
        for v in row:
            if type(v) not in (int, float):
                raise BadRequest("numbers only")
            try:
                f = float(v)
            except OverflowError:
                raise BadRequest("number too large") from None
            if not math.isfinite(f):
                raise BadRequest("numbers must be finite")
            clean.append(f)
        out.append(tuple(clean))
    return tuple(out)


class Server:
    def __init__(self, config, model, clock):
        self.s = Settings.read(config)
        self.clock = clock
        self.model = model
        if self.model is None and self.s.model_path:
            try:
                import skops.io

                self.model = skops.io.load(self.s.model_path)
            except Exception:
                self.model = None
        self.lru: dict = {}
        self.lru_lock = threading.Lock()
        self.tokens = self.s.burst
        self.stamp = clock()
        self.bucket_lock = threading.Lock()
        self.waiting = 0
        self.waiting_lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "answers", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "latency", ["endpoint"], registry=self.registry)
        self.sizes = Histogram("model_batch_size", "requests per call", registry=self.registry,
                               buckets=[1, 2, 3, 5, 8, 13, 21, 34, 55, 89])
        Gauge("model_queue_depth", "waiting requests", registry=self.registry).set_function(lambda: self.waiting)
        self.batcher = MicroBatcher(self.run_batch, self.s.batch, self.s.wait_ms / 1000.0, self.s.queue) \
            if self.model is not None else None

    def _waiting(self, delta):
        with self.waiting_lock:
            self.waiting += delta

    def run_batch(self, requests_rows):
        self._waiting(-len(requests_rows))
        self.sizes.observe(len(requests_rows))
        counts = [len(r) for r in requests_rows]
        flat = np.array([row for r in requests_rows for row in r], dtype=float)
        preds = list(self.model.predict(flat).tolist())
        out = []
        for c in counts:
            out.append(preds[:c])
            preds = preds[c:]
        return out

    def cache_get(self, key):
        with self.lru_lock:
            if key in self.lru:
                val = self.lru.pop(key)
                self.lru[key] = val
                return val
        return None

    def cache_put(self, key, val):
        if self.s.cache <= 0:
            return
        with self.lru_lock:
            self.lru.pop(key, None)
            self.lru[key] = val
            while len(self.lru) > self.s.cache:
                del self.lru[next(iter(self.lru))]

    @staticmethod
    def body(limit=1 << 20):
        """The request body; 413 when more than `limit` bytes come (at most limit + 1 are read)."""
        data = bytearray()
        while len(data) <= limit:
            piece = request.stream.read(limit + 1 - len(data))
            if not piece:
                return bytes(data)
            data += piece
        raise RequestEntityTooLarge()

    def retry_after(self):
        """None when a token was taken, else whole seconds to wait."""
        with self.bucket_lock:
            now = self.clock()
            self.tokens = min(self.s.burst, self.tokens + (now - self.stamp) * self.s.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return max(1, math.ceil((1 - self.tokens) / self.s.rate))


def refuse(msg, seconds):
    r = jsonify(error=msg)
    r.status_code = 429
    r.headers["Retry-After"] = str(int(seconds))
    return r


def create_app(config=None, *, model=None, clock=time.monotonic):
    srv = Server(config, model, clock)
    app = Flask("serving")
    app.config["MAX_CONTENT_LENGTH"] = (1 << 20) + 1  # chunked bodies stop one byte past 1 MiB: srv.body()
    if srv.batcher is not None:
        app.extensions["batcher"] = srv.batcher

    @app.before_request
    def gate():
        request.environ["t0"] = time.perf_counter()
        if request.path == "/predict" and request.method == "POST" and srv.s.rate is not None:
            wait = srv.retry_after()
            if wait is not None:
                return refuse("slow down", wait)
        return None

    @app.after_request
    def count(resp: Response):
        if request.path != "/metrics":
            ep = request.url_rule.rule if request.url_rule is not None else "unmatched"
            srv.requests.labels(ep, str(resp.status_code)).inc()
            srv.latency.labels(ep).observe(time.perf_counter() - request.environ.get("t0", time.perf_counter()))
        return resp

    @app.errorhandler(BadRequest)
    def bad(e):
        return jsonify(error=str(e)), 400

    @app.errorhandler(HTTPException)
    def http(e):
        return jsonify(error=e.name), e.code

    @app.route("/health")
    def health():
        return jsonify(status="ok", model_version=srv.s.version)

    @app.route("/ready")
    def ready():
        return (jsonify(ready=True), 200) if srv.model is not None else (jsonify(error="no model"), 503)

    @app.route("/metrics")
    def metrics():
        return Response(generate_latest(srv.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.route("/predict", methods=["POST"])
    def predict():
        if srv.model is None:
            return jsonify(error="no model"), 503
        rows = rows_of(srv.body())
        hit = srv.cache_get(rows)
        if hit is not None:
            return jsonify(predictions=hit, model_version=srv.s.version)
        srv._waiting(+1)
        try:
            fut = srv.batcher.submit(rows)
        except QueueFull:
            srv._waiting(-1)
            return refuse("queue full", 1)
        try:
            preds = fut.result(timeout=30)
        except Exception as e:
            return jsonify(error=f"model failed: {type(e).__name__}"), 503
        srv.cache_put(rows, preds)
        return jsonify(predictions=preds, model_version=srv.s.version)

    return app
