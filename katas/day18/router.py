"""Task 6: a canary router in front of two real model servers.

README task 6 is the full specification. In short:
- `CanaryRouter(stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
  clock=time.monotonic)`; it starts with 0 % on the canary.
- `set_canary_percent(percent)` (0..100, else ValueError) re-weights your `TrafficSplitter`
  {"stable": 100 - percent, "canary": percent} with `with_weights`, so a ramp keeps users.
- `variant_for(user_id)` -> "stable" or "canary"; `predict(user_id, payload) -> (status, body)`
  forwards a `POST /predict`; no answer in time or no JSON -> (502, {"error": ...}).
- `error_counts(window_s) -> (errors, total)`: the canary's answers in the last window_s
  seconds of `clock` (window_s in (0, max_window_s], else ValueError), errors being
  statuses >= 500: the metric source of your `CanaryController`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter  # noqa: F401  (your task-1 splitter does the routing)


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        # TODO(task 6): store the URLs and options; a splitter with the canary at 0 %.
        raise NotImplementedError("task 6")

    def set_canary_percent(self, percent: float) -> None:
        # TODO(task 6): validate, then with_weights({"stable": 100 - percent, "canary": percent}).
        raise NotImplementedError("task 6")

    def variant_for(self, user_id: str) -> str:
        # TODO(task 6): "stable" or "canary", from the splitter.
        raise NotImplementedError("task 6")

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        # TODO(task 6): forward to the user's variant, record the canary's outcomes.
        raise NotImplementedError("task 6")

    def error_counts(self, window_s: float) -> tuple[int, int]:
        # TODO(task 6): (errors, total) of canary answers with now - window_s <= t <= now.
        raise NotImplementedError("task 6")
