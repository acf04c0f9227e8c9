"""Mutant: json.loads errors are not caught, so malformed JSON becomes a 500."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

N_FEATURES = 4
MAX_BODY_BYTES = 1024 * 1024
SETTINGS = ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION")

log = logging.getLogger("model_server")


class InvalidInput(ValueError):
    """The request body is not a batch of 4-number rows; answered with 400."""


def model_location(settings: Mapping[str, str]) -> Path:
    if settings.get("MODEL_PATH"):
        return Path(settings["MODEL_PATH"])
    uri = settings.get("MODEL_URI")
    if not uri:
        raise ValueError("set MODEL_PATH or MODEL_URI to the model file")
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"only local model files are supported, not {uri!r}")
    return Path(unquote(parsed.path))


def load_model(path: Path):
    # skops builds only types on its trusted list and raises on anything else; a
    # pickle or joblib file would run whatever code it names while loading.
    import skops.io

    return skops.io.load(path)


def _reject_constant(name: str):
    raise InvalidInput(f"{name} is not a finite number")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"features must be numbers, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput("a feature is too large to be a finite number") from None
    if not math.isfinite(number):
        raise InvalidInput("features must be finite numbers")
    return number


def parse_features(body: bytes) -> list[list[float]]:
    """The rows of a /predict body; a single row is taken as a batch of one."""
    data = json.loads(body, parse_constant=_reject_constant)
    if not isinstance(data, dict) or "features" not in data:
        raise InvalidInput('the body must be a JSON object with a "features" list')
    rows = data["features"]
    if not isinstance(rows, list) or not rows:
        raise InvalidInput('"features" must be a non-empty list of rows')
    if not any(isinstance(row, list) for row in rows):
        rows = [rows]
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise InvalidInput(f"every row must be a list of {N_FEATURES} numbers")
        parsed.append([_number(value) for value in row])
    return parsed


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    settings = {key: os.environ[key] for key in SETTINGS if os.environ.get(key)}
    settings.update(config or {})
    version = str(settings.get("MODEL_VERSION") or "unversioned")

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    state = {"model": None}
    try:
        state["model"] = load_model(model_location(settings))
    except Exception as exc:  # the process stays up and says it is not ready
        log.error("model not loaded: %s", exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(InvalidInput)
    def invalid_input(exc: InvalidInput):
        return jsonify(error=str(exc)), 400

    @app.get("/health")
    def health():
        return jsonify(status="ok", model_version=version)

    @app.get("/ready")
    def ready():
        if state["model"] is None:
            return jsonify(ready=False, error="model not loaded"), 503
        return jsonify(ready=True, model_version=version)

    @app.post("/predict")
    def predict():
        if state["model"] is None:
            return jsonify(error="model not loaded"), 503
        rows = parse_features(request.get_data(cache=False))
        import numpy as np

        predictions = state["model"].predict(np.asarray(rows, dtype=float))
        return jsonify(predictions=predictions.tolist(), model_version=version)

    return app
