"""Model server: settings object, view-level rate limit, dict-based LRU, counted queue depth."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from batcher import MicroBatcher, QueueFull
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import BadRequest, HTTPException

ONE_MIB = 1 << 20


@dataclass(frozen=True)
class Settings:
    model_path: str | None
    model_version: str
    max_batch_size: int
    max_wait_ms: float
    max_queue: int
    cache_size: int
    rate_limit: float | None
    rate_burst: float | None

    @classmethod
    def read(cls, config: Mapping[str, Any]) -> Settings:
        def raw(name):
            if name in config:
                value = config[name]
            else:
                value = os.environ.get(name)
            return None if value is None or value == "" else value

        def num(name, default, low, *, integer=False, above=False):
            value = raw(name)
            if value is None:
                return default
            if isinstance(value, (np.integer, np.floating)):  # NumPy numbers are numbers too
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(f"setting {name}: not a number: {value!r}")
            try:
                x = float(value)
            except (ValueError, OverflowError):
                raise ValueError(f"setting {name}: not a number: {value!r}") from None
            if math.isnan(x) or math.isinf(x):
                raise ValueError(f"setting {name}: must be finite")
            if x < low or (above and x <= low):
                raise ValueError(f"setting {name}: {value!r} is too small")
            if integer:
                if x != int(x):
                    raise ValueError(f"setting {name}: {value!r} is not a whole number")
                return int(x)
            return x

        rate = num("RATE_LIMIT", None, 0.0, above=True)
        if rate is not None and math.isinf(1.0 / rate):
            raise ValueError(f"setting RATE_LIMIT: {rate!r} is too small, a token's wait would be infinite")
        burst = num("RATE_BURST", max(1.0, rate), 1.0) if rate is not None else None
        version = raw("MODEL_VERSION")
        return cls(
            model_path=raw("MODEL_PATH"),
            model_version="dev" if version is None else str(version),
            max_batch_size=num("MAX_BATCH_SIZE", 32, 1, integer=True),
            max_wait_ms=num("MAX_WAIT_MS", 5, 0),
            max_queue=num("MAX_QUEUE", 256, 1, integer=True),
            cache_size=num("CACHE_SIZE", 1024, 0, integer=True),
            rate_limit=rate,
            rate_burst=burst,
        )


class AnswerCache:
    """LRU on a plain dict: dicts keep insertion order, so re-inserting a key makes it the newest."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict = {}
        self.lock = threading.Lock()

    def lookup(self, key):
        with self.lock:
            value = self.entries.pop(key, None)
            if value is not None:
                self.entries[key] = value
            return value

    def store(self, key, value) -> None:
        if not self.capacity:
            return
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = value
            if len(self.entries) > self.capacity:
                del self.entries[next(iter(self.entries))]


class Bucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.level = burst
        self.stamp = clock()
        self.lock = threading.Lock()

    def try_take(self) -> tuple[bool, int]:
        with self.lock:
            now = self.clock()
            self.level = min(self.burst, self.level + max(0.0, now - self.stamp) * self.rate)
            self.stamp = now
            if self.level >= 1.0:
                self.level -= 1.0
                return True, 0
            return False, max(1, math.ceil((1.0 - self.level) / self.rate))


class Invalid(Exception):
    pass


def read_rows(payload) -> tuple:
    if not isinstance(payload, dict) or "features" not in payload:
        raise Invalid("expected an object with a 'features' list")
    features = payload["features"]
    if not isinstance(features, list) or len(features) == 0:
        raise Invalid("'features' must be a non-empty list")
    rows = features if all(isinstance(r, list) for r in features) else [features]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise Invalid("each row must hold exactly 4 numbers")
        cells = []
        for cell in row:
            if type(cell) not in (int, float):
                raise Invalid(f"not a number: {cell!r}")
            try:
                f = float(cell)
            except OverflowError:
                raise Invalid("number out of range") from None
            if not math.isfinite(f):
                raise Invalid("numbers must be finite")
            cells.append(f)
        out.append(tuple(cells))
    return tuple(out)


def load_model(path: str | None):
    if not path:
        return None
    import skops.io

    try:
        return skops.io.loads(Path(path).read_bytes())
    except Exception:  # noqa: BLE001
        return None


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    settings = Settings.read(config or {})
    if model is None:
        model = load_model(settings.model_path)
    bucket = Bucket(settings.rate_limit, settings.rate_burst, clock) if settings.rate_limit else None
    cache = AnswerCache(settings.cache_size)

    app = Flask(__name__)
    # One byte past 1 MiB: on a chunked body get_data() stops there without an error, so predict can
    # tell a body that went on.
    app.config["MAX_CONTENT_LENGTH"] = ONE_MIB + 1
    registry = CollectorRegistry(auto_describe=True)
    answered = Counter("model_requests_total", "Requests by endpoint and status", ["endpoint", "status"],
                       registry=registry)
    latency = Histogram("model_request_latency_seconds", "Latency", ["endpoint"], registry=registry)
    batch_hist = Histogram("model_batch_size", "Requests per model call", registry=registry,
                           buckets=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    counts = {"submitted": 0, "handed": 0}
    counts_lock = threading.Lock()

    def depth() -> float:
        with counts_lock:
            return counts["submitted"] - counts["handed"]

    Gauge("model_queue_depth", "Requests waiting for the model", registry=registry).set_function(depth)

    def bump(key: str, n: int) -> None:
        with counts_lock:
            counts[key] += n

    def predict_batch(items):
        bump("handed", len(items))
        batch_hist.observe(len(items))
        sizes = [len(item) for item in items]
        matrix = np.array([list(row) for item in items for row in item], dtype=float)
        flat = list(np.ravel(model.predict(matrix)).tolist())
        if len(flat) != sum(sizes):
            raise ValueError("model returned the wrong number of predictions")
        answers = []
        for size in sizes:
            answers.append(flat[:size])
            flat = flat[size:]
        return answers

    batcher = None
    if model is not None:
        batcher = MicroBatcher(predict_batch, settings.max_batch_size, settings.max_wait_ms / 1000.0,
                               settings.max_queue)
        app.extensions["batcher"] = batcher

    def fail(code: int, message: str, retry_after: int | None = None) -> Response:
        response = jsonify(error=message)
        response.status_code = code
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.before_request
    def started():
        g.t0 = time.perf_counter()

    @app.after_request
    def observe(response):
        if request.path == "/metrics":
            return response
        rule = request.url_rule
        endpoint = rule.rule if rule else "unmatched"
        answered.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        latency.labels(endpoint=endpoint).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return response

    @app.errorhandler(HTTPException)
    def on_http_error(exc):
        return fail(exc.code or 500, exc.name)

    @app.route("/health", methods=["GET"])
    def health():
        return jsonify(status="ok", model_version=settings.model_version)

    @app.route("/ready", methods=["GET"])
    def ready():
        if model is None:
            return fail(503, "model not loaded")
        return jsonify(status="ready")

    @app.route("/metrics", methods=["GET"])
    def metrics():
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    @app.route("/predict", methods=["POST"])
    def predict():
        if bucket is not None:
            ok, wait_s = bucket.try_take()
            if not ok:
                return fail(429, "too many requests", wait_s)
        if batcher is None:
            return fail(503, "model not loaded")
        if len(request.get_data()) > ONE_MIB:  # cached: get_json below parses the same bytes
            return fail(413, "Request Entity Too Large")
        try:
            payload = request.get_json(force=True, silent=False)
        except BadRequest as exc:
            if exc.code == 413 or getattr(exc, "code", None) == 413:
                raise
            return fail(400, "body is not valid JSON")
        except RecursionError:
            return fail(400, "body is nested too deeply")
        try:
            rows = read_rows(payload)
        except Invalid as exc:
            return fail(400, str(exc))
        hit = cache.lookup(rows)
        if hit is not None:
            return jsonify(predictions=hit, model_version=settings.model_version)
        bump("submitted", 1)
        try:
            future = batcher.submit(rows)
        except QueueFull:
            bump("submitted", -1)
            return fail(429, "queue full", 1)
        except RuntimeError:
            bump("submitted", -1)
            return fail(503, "shutting down")
        try:
            predictions = future.result(timeout=30)
        except Exception:  # noqa: BLE001
            return fail(503, "prediction failed")
        cache.store(rows, predictions)
        return jsonify(predictions=predictions, model_version=settings.model_version)

    return app
