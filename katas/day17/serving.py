"""Tasks 2 and 3: the day-03 model server grown for load.

Contract (README tasks 2 and 3 say it in full; the tests check exactly that):
- `create_app(config=None, *, model=None, clock=time.monotonic)` returns a Flask app.
  Settings come from `config` and, for keys it lacks, from environment variables of the
  same name; an unset or empty value means the default; `config` itself is left as it was.
  A bad setting raises ValueError naming it. `model` (anything with scikit-learn's
  `predict`) replaces loading MODEL_PATH.
- `/health`, `/ready`, `/predict`, bad input (400, 413) and a missing model (503) as on day 03.
- Task 2: every /predict request is ONE item of a `MicroBatcher` (`MAX_BATCH_SIZE`
  requests per model call, default 32; `MAX_WAIT_MS`, default 5; `MAX_QUEUE` waiting
  requests, default 256), kept in `app.extensions["batcher"]`; one `model.predict` per
  batch on all its rows, each request answered with its own rows' predictions; a failed
  model call answers 503. An exact-match LRU cache of `CACHE_SIZE` answers (default
  1024, 0 turns it off) answers repeated requests without the model.
- Task 3: a full queue answers 429 with `Retry-After: 1`; with `RATE_LIMIT` set, a token
  bucket (`RATE_BURST`, default max(1, RATE_LIMIT)) is checked first for every POST /predict
  and answers 429 with the whole seconds until the next token in `Retry-After`.
  /metrics adds `model_batch_size` (histogram, requests per model call) and
  `model_queue_depth` (gauge, requests submitted and not yet in a model call) to
  day 03's `model_requests_total` and `model_request_latency_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from batcher import MicroBatcher, QueueFull  # noqa: F401  (you will need both)
from flask import Flask


def create_app(config: Mapping[str, Any] | None = None, *, model=None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    """The model server: day 03's contract, answered through a micro-batcher."""
    # TODO(task 2): read and check the settings, load the model (unless given), start a
    # MicroBatcher whose predict_batch makes ONE model call for all the rows of its
    # requests, and route /predict through the cache and the batcher.
    # TODO(task 3): the token bucket in front, 429 + Retry-After when it or the queue is
    # full, and the two new metrics.
    raise NotImplementedError("task 2")
