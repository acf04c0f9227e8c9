"""A model server behind the day-03 HTTP contract (later days deploy, probe and scale it).

Routes (the container listens on port 8000):
- `GET /health` -> 200 `{"status": "ok", "model_version": str}` while the process lives,
  whether or not the model loaded (liveness).
- `GET /ready` -> 200 once the model is loaded, 503 before and when it cannot be
  loaded (readiness).
- `POST /predict` with `{"features": [[f, f, f, f], ...]}` (one row `[f, f, f, f]` is
  taken as a batch of one) -> 200 `{"predictions": [...], "model_version": str}`, the
  model's predictions in row order as plain JSON numbers. Without a loaded model: 503.
- Bad input -> 400 `{"error": str}`: a body that is not JSON, not an object with a
  non-empty `features` list, a row that is not exactly 4 numbers, or a number that is
  not finite (NaN, Infinity, or too large for a float). A body over 1 MiB (in bytes) -> 413;
  a chunked body is not read much past 1 MiB, and is a 413 even when its first 1 MiB is valid
  JSON. Bad input never causes a 500.
- `GET /metrics` -> 200 in the Prometheus text format (task 4): a counter
  `model_requests_total{endpoint, status}` and a histogram
  `model_request_latency_seconds{endpoint}` (seconds) over every answered request except
  /metrics itself. `endpoint` is the route (`/predict`, `/health`, `/ready`) or
  `unmatched` for unknown paths, never the raw URL. Each app has its own metrics.

Settings (each taken from `config`, else from the environment variable of the same name):
- `MODEL_PATH`: the model file, a skops file written by train_model.py; or
- `MODEL_URI`: the same as a `file://` URI (used when MODEL_PATH is not set).
- `MODEL_VERSION`: reported by /health and /predict (any non-empty text when unset).

Load the model with `skops.io.load`, never with pickle or joblib: unpickling a file
runs whatever code it names. If the model cannot be loaded, `create_app` still returns
an app (health 200, ready 503); it does not raise.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the Flask app: read the settings, load the model, register the routes.

    gunicorn calls it with no argument (`model_server:create_app()`), so the settings
    then come from the environment; tests pass a dict.
    """
    # TODO(task 1): read MODEL_PATH / MODEL_URI / MODEL_VERSION (config over environment),
    # load the model with skops, limit request bodies to 1 MiB, and register /health,
    # /ready and /predict with input validation that answers 400, never 500.
    # TODO(task 4): a CollectorRegistry for this app, the request counter and latency
    # histogram updated for every answered request, and GET /metrics.
    raise NotImplementedError("task 1")
