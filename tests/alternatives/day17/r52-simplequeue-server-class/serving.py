"""Tasks 2 and 3, organised as a small Server object whose methods Flask routes to."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from numbers import Number
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

LIMIT = 1 << 20

# name: (default, whole number?, lowest allowed, lowest excluded?)
SPECS = {
    "MAX_BATCH_SIZE": (32, True, 1, False),
    "MAX_WAIT_MS": (5, False, 0, False),
    "MAX_QUEUE": (256, True, 1, False),
    "CACHE_SIZE": (1024, True, 0, False),
    "RATE_LIMIT": (None, False, 0, True),
    "RATE_BURST": (None, False, 1, False),
}


class Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def lookup(config: Mapping[str, Any], name: str):
    if name in config and config[name] is not None and config[name] != "":
        return config[name]
    value = os.environ.get(name, "")
    return value if value != "" else None


def check(name: str, raw):
    default, whole, low, exclusive = SPECS[name]
    if raw is None:
        return default
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError(f"{name}: a bool is not a number ({raw!r})")
    if isinstance(raw, (str, bytes)):
        text = raw.decode() if isinstance(raw, bytes) else raw
        if not text.strip():
            return default
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a number") from None
    elif isinstance(raw, (Number, np.number)):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
    else:
        raise ValueError(f"{name}: {raw!r} is not a number")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: {raw!r} is not finite")
    if whole and value != math.floor(value):
        raise ValueError(f"{name}: {raw!r} must be a whole number")
    if (value <= low) if exclusive else (value < low):
        raise ValueError(f"{name}: {raw!r} is below its minimum {low}")
    return int(value) if whole else value


class Server:
    def __init__(self, settings: dict, model, clock, version: str) -> None:
        self.model = model
        self.version = version
        self.clock = clock
        self.cache_size = settings["CACHE_SIZE"]
        self.cache: dict = {}
        self.cache_lock = threading.Lock()
        self.rate = settings["RATE_LIMIT"]
        self.burst = settings["RATE_BURST"]
        self.bucket_lock = threading.Lock()
        if self.rate is not None:
            self.tokens, self.refilled_at = float(self.burst), clock()
        self.pending = 0
        self.pending_lock = threading.Lock()

        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ("endpoint", "status"),
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Seconds per request", ("endpoint",),
                                 registry=self.registry)
        self.batch_size = Histogram("model_batch_size", "Requests per model call", registry=self.registry,
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128))
        depth = Gauge("model_queue_depth", "Requests waiting for a model call", registry=self.registry)
        depth.set_function(lambda: self.pending)

        self.batcher = None
        if model is not None:
            self.batcher = MicroBatcher(self.run_batch, settings["MAX_BATCH_SIZE"],
                                        settings["MAX_WAIT_MS"] / 1000.0, settings["MAX_QUEUE"])

    # -- pieces -------------------------------------------------------------------------------
    def _pending(self, delta: int) -> None:
        with self.pending_lock:
            self.pending += delta

    def take_token(self) -> None:
        if self.rate is None:
            return
        with self.bucket_lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.refilled_at) * self.rate)
            self.refilled_at = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                raise Refused(429, "too many requests", max(1, math.ceil(wait)))
            self.tokens -= 1

    def cached(self, key):
        if not self.cache_size:
            return None
        with self.cache_lock:
            value = self.cache.pop(key, None)
            if value is not None:
                self.cache[key] = value  # re-insert: now the most recently used
            return value

    def remember(self, key, value) -> None:
        if not self.cache_size:
            return
        with self.cache_lock:
            self.cache.pop(key, None)
            self.cache[key] = value
            while len(self.cache) > self.cache_size:
                del self.cache[next(iter(self.cache))]

    def run_batch(self, items: list) -> list:
        self._pending(-len(items))
        self.batch_size.observe(len(items))
        flat = np.array([row for item in items for row in item], dtype=np.float64)
        out = list(np.asarray(self.model.predict(flat)).tolist())
        bounds = np.cumsum([0] + [len(item) for item in items])
        return [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    @staticmethod
    def read_body() -> bytes:
        if (request.content_length or 0) > LIMIT:
            raise Refused(413, "request body over 1 MiB")
        buffer = bytearray()
        stream = request.stream
        while len(buffer) <= LIMIT:
            piece = stream.read(LIMIT + 1 - len(buffer))
            if not piece:
                break
            buffer += piece
        if len(buffer) > LIMIT:
            raise Refused(413, "request body over 1 MiB")
        return bytes(buffer)

    @staticmethod
    def rows_of(body: bytes) -> tuple:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise Refused(400, "body is not JSON") from None
        features = data.get("features") if isinstance(data, dict) else None
        if not isinstance(features, list) or len(features) == 0:
            raise Refused(400, "expected a non-empty 'features' list")
        table = [features] if not isinstance(features[0], list) else features
        rows = []
        for row in table:
            if not isinstance(row, list) or len(row) != 4:
                raise Refused(400, "each row needs exactly 4 numbers")
            values = []
            for x in row:
                if type(x) not in (int, float):
                    raise Refused(400, "features must be numbers")
                try:
                    f = float(x)
                except OverflowError:
                    raise Refused(400, "feature too large") from None
                if not math.isfinite(f):
                    raise Refused(400, "features must be finite")
                values.append(f)
            rows.append(tuple(values))
        return tuple(rows)

    # -- the route ----------------------------------------------------------------------------
    def predict(self) -> tuple[dict, int]:
        self.take_token()
        body = self.read_body()
        key = self.rows_of(body)
        if self.model is None:
            raise Refused(503, "model not loaded")
        hit = self.cached(key)
        if hit is not None:
            return {"predictions": hit, "model_version": self.version}, 200
        self._pending(+1)
        try:
            future = self.batcher.submit(key)
        except QueueFull:
            self._pending(-1)
            raise Refused(429, "queue full", 1) from None
        except RuntimeError:
            self._pending(-1)
            raise Refused(503, "shutting down") from None
        try:
            answer = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            future.cancel()
            raise Refused(503, "model call failed") from None
        self.remember(key, answer)
        return {"predictions": answer, "model_version": self.version}, 200


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    config = config or {}
    settings = {name: check(name, lookup(config, name)) for name in SPECS if name != "RATE_BURST"}
    settings["RATE_BURST"] = None
    if settings["RATE_LIMIT"] is not None:
        if math.isinf(1.0 / settings["RATE_LIMIT"]):
            raise ValueError("RATE_LIMIT is too small for the wait for a token to be a float")
        settings["RATE_BURST"] = check("RATE_BURST", lookup(config, "RATE_BURST"))
        if settings["RATE_BURST"] is None:
            settings["RATE_BURST"] = max(1.0, settings["RATE_LIMIT"])
    version = lookup(config, "MODEL_VERSION")
    version = "0.0.0-dev" if version is None else str(version)

    if model is None:
        path = lookup(config, "MODEL_PATH")
        uri = lookup(config, "MODEL_URI")
        if path is None and uri is not None and str(uri).startswith("file://"):
            path = str(uri)[7:]
        if path is not None:
            try:
                from skops.io import load

                model = load(path)
            except Exception:  # noqa: BLE001
                model = None

    server = Server(settings, model, clock, version)
    app = Flask(__name__)
    if server.batcher is not None:
        app.extensions["batcher"] = server.batcher

    def as_json(payload, status, retry_after=None):
        response = Response(json.dumps(payload), status=status, mimetype="application/json")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return as_json({"error": exc.name}, exc.code)

    @app.errorhandler(Refused)
    def refused(exc: Refused):
        return as_json({"error": exc.message}, exc.status, exc.retry_after)

    @app.before_request
    def stamp():
        request.environ["day17.start"] = time.perf_counter()

    @app.after_request
    def observe(response):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        if rule != "/metrics":
            server.requests.labels(rule, str(response.status_code)).inc()
            server.latency.labels(rule).observe(time.perf_counter() - request.environ.get("day17.start", 0))
        return response

    @app.route("/health", methods=["GET"])
    def health():
        return as_json({"status": "ok", "model_version": version}, 200)

    @app.route("/ready", methods=["GET"])
    def ready():
        ok = server.model is not None
        return as_json({"ready": ok, "model_version": version}, 200 if ok else 503)

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(server.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.route("/predict", methods=["POST"])
    def predict():
        payload, status = server.predict()
        return as_json(payload, status)

    return app
