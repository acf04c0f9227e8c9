"""Model server with micro-batching, an LRU answer cache and backpressure (class-based)."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from batcher import MicroBatcher, QueueFull

log = logging.getLogger(__name__)
MiB = 1024 * 1024
RESULT_TIMEOUT_S = 30
_UNSET = object()


class InvalidInput(Exception):
    pass


# --- settings ----------------------------------------------------------------------------


class Settings:
    def __init__(self, config):
        self._config = dict(config or {})

    def raw(self, name):
        value = self._config[name] if name in self._config else os.environ.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return _UNSET
        return value

    def number(self, name, default, *, whole=False, minimum=None, above=None):
        value = self.raw(name)
        if value is _UNSET:
            return default
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if whole:
            if not number.is_integer():
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            number = int(number)
        if minimum is not None and number < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
        if above is not None and number <= above:
            raise ValueError(f"{name} must be > {above}, got {value!r}")
        return number

    def text(self, name, default):
        value = self.raw(name)
        return default if value is _UNSET else str(value)


# --- parsing -------------------------------------------------------------------------------


def _reject_constant(name):
    raise InvalidInput(f"{name} is not a finite number")


def parse_rows(body: bytes):
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("the body should be a JSON object")
    features = payload.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput("'features' should be a non-empty list")
    rows = features if isinstance(features[0], list) else [features]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise InvalidInput("every row should be a list of 4 numbers")
        values = []
        for x in row:
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float)):
                raise InvalidInput("every feature should be a number")
            try:
                f = float(x)
            except OverflowError:
                raise InvalidInput("a feature is too large") from None
            if not math.isfinite(f):
                raise InvalidInput("every feature should be finite")
            values.append(f)
        out.append(tuple(values))
    return tuple(out)


# --- cache and bucket ------------------------------------------------------------------------------


class LRUCache:
    def __init__(self, size):
        self.size = size
        self._data = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        if self.size == 0:
            return None
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value):
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class TokenBucket:
    def __init__(self, rate, burst, clock):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = None
        self._lock = threading.Lock()

    def take(self):
        """(True, 0) with a token taken, or (False, seconds until the next whole token)."""
        with self._lock:
            now = self.clock()
            if self.last is not None:
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True, 0
            return False, max(1, math.ceil((1 - self.tokens) / self.rate))


# --- the server -------------------------------------------------------------------------------------


class ModelServer:
    def __init__(self, config, model, clock):
        settings = Settings(config)
        self.max_batch_size = settings.number("MAX_BATCH_SIZE", 32, whole=True, minimum=1)
        self.max_wait_ms = settings.number("MAX_WAIT_MS", 5, minimum=0)
        self.max_queue = settings.number("MAX_QUEUE", 256, whole=True, minimum=1)
        self.cache = LRUCache(settings.number("CACHE_SIZE", 1024, whole=True, minimum=0))
        rate = settings.number("RATE_LIMIT", None, above=0)
        self.bucket = None
        if rate is not None:
            if math.isinf(1 / rate):
                raise ValueError(f"RATE_LIMIT is too small to wait for a token, got {rate!r}")
            burst = settings.number("RATE_BURST", max(1, rate), minimum=1)
            self.bucket = TokenBucket(rate, burst, clock)
        self.version = settings.text("MODEL_VERSION", "unversioned")
        self.model = model if model is not None else self._load(settings)

        self.registry = CollectorRegistry()
        self.requests = Counter("model_requests_total", "Requests answered", ["endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("model_request_latency_seconds", "Request latency", ["endpoint"],
                                 registry=self.registry)
        self.batch_size = Histogram("model_batch_size", "Requests per model call", registry=self.registry,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.queue_depth = Gauge("model_queue_depth", "Requests waiting for the model", registry=self.registry)

        self.batcher = None
        if self.model is not None:
            self.batcher = MicroBatcher(self._predict_batch, self.max_batch_size, self.max_wait_ms / 1000,
                                        self.max_queue)

    @staticmethod
    def _load(settings):
        path = settings.text("MODEL_PATH", "")
        if not path:
            uri = settings.text("MODEL_URI", "")
            path = uri[len("file://"):] if uri.startswith("file://") else uri
        if not path:
            return None
        try:
            import skops.io

            return skops.io.load(path)
        except Exception:  # noqa: BLE001
            log.exception("could not load the model from %s", path)
            return None

    def _predict_batch(self, items):
        self.queue_depth.dec(len(items))
        self.batch_size.observe(len(items))
        rows = [row for item in items for row in item]
        predictions = np.asarray(self.model.predict(np.asarray(rows, dtype=float))).tolist()
        if len(predictions) != len(rows):
            raise ValueError("the model returned the wrong number of predictions")
        out, start = [], 0
        for item in items:
            out.append(predictions[start:start + len(item)])
            start += len(item)
        return out

    def predict(self):
        if self.bucket is not None:
            ok, wait = self.bucket.take()
            if not ok:
                return self._error(429, "rate limit exceeded", {"Retry-After": str(wait)})
        if self.model is None:
            return self._error(503, "no model is loaded")
        body = self._read_body()
        if body is None:
            return self._error(413, "request body over 1 MiB")
        try:
            rows = parse_rows(body)
        except InvalidInput as exc:
            return self._error(400, str(exc))
        cached = self.cache.get(rows)
        if cached is not None:
            return jsonify(predictions=cached, model_version=self.version)
        self.queue_depth.inc()
        try:
            future = self.batcher.submit(rows)
        except QueueFull:
            self.queue_depth.dec()
            return self._error(429, "the server is busy", {"Retry-After": "1"})
        except RuntimeError:
            self.queue_depth.dec()
            return self._error(503, "the server is shutting down")
        try:
            predictions = future.result(timeout=RESULT_TIMEOUT_S)
        except FutureTimeout:
            return self._error(503, "the model took too long")
        except Exception as exc:  # noqa: BLE001
            log.warning("model call failed: %r", exc)
            return self._error(503, "the model failed")
        self.cache.put(rows, predictions)
        return jsonify(predictions=predictions, model_version=self.version)

    @staticmethod
    def _read_body(limit=MiB):
        """The body, or None when it is over `limit` bytes. MAX_CONTENT_LENGTH is limit + 1, so a chunked
        stream ends there: reading until it ends never takes more than limit + 1 bytes."""
        body = bytearray()
        while len(body) <= limit:
            chunk = request.stream.read(limit + 1 - len(body))
            if not chunk:
                return bytes(body)
            body += chunk
        return None

    @staticmethod
    def _error(status, message, headers=None):
        response = jsonify(error=message)
        response.status_code = status
        for k, v in (headers or {}).items():
            response.headers[k] = v
        return response

    def build(self) -> Flask:
        app = Flask(__name__)
        app.config["MAX_CONTENT_LENGTH"] = MiB + 1  # see _read_body
        if self.batcher is not None:
            app.extensions["batcher"] = self.batcher

        @app.before_request
        def start_timer():
            request.environ["model_server.start"] = time.perf_counter()

        @app.after_request
        def record(response):
            if request.url_rule is not None and request.url_rule.rule == "/metrics":
                return response
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            self.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            start = request.environ.get("model_server.start")
            if start is not None:
                self.latency.labels(endpoint=endpoint).observe(time.perf_counter() - start)
            return response

        @app.errorhandler(HTTPException)
        def http_error(exc):
            return self._error(exc.code or 500, exc.description or exc.name)

        @app.get("/health")
        def health():
            return jsonify(status="ok", model_version=self.version)

        @app.get("/ready")
        def ready():
            if self.model is None:
                return self._error(503, "no model is loaded")
            return jsonify(status="ready", model_version=self.version)

        @app.get("/metrics")
        def metrics():
            return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)

        app.add_url_rule("/predict", "predict", self.predict, methods=["POST"])
        return app


def create_app(config=None, *, model=None, clock=time.monotonic) -> Flask:
    return ModelServer(config, model, clock).build()
