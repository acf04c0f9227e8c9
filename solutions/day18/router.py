"""Task 6: a canary router in front of two real model servers.

Design (README task 6 is the full specification):
- `CanaryRouter(stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
  clock=time.monotonic)`.
- `set_canary_percent(percent)` (0..100, else ValueError) re-weights a `TrafficSplitter`
  {"stable": 100 - percent, "canary": percent} with `with_weights`, so a ramp keeps users.
- `variant_for(user_id)`; `predict(user_id, payload) -> (status, body)` forwards a
  `POST /predict`; no answer or no JSON -> (502, {"error": ...}).
- `error_counts(window_s) -> (errors, total)`: the canary's answers in the last window_s
  seconds of `clock` (window_s in (0, max_window_s], else ValueError), errors being statuses
  >= 500: the metric source of `CanaryController`. Older answers are forgotten.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests

from traffic import TrafficSplitter

STABLE, CANARY = "stable", "canary"


def _not_json(constant: str):
    """json.loads takes NaN and Infinity by default; JSON (RFC 8259) has no such values."""
    raise ValueError(f"{constant} is not JSON")


class CanaryRouter:
    """Routes each user, sticky, to the stable or the canary server and watches the canary."""

    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        if not max_window_s > 0:
            raise ValueError(f"max_window_s must be positive, got {max_window_s!r}")
        self._max_window_s = max_window_s
        self._urls = {STABLE: stable_url.rstrip("/"), CANARY: canary_url.rstrip("/")}
        self._timeout_s = timeout_s
        self._clock = clock
        self._splitter = TrafficSplitter({STABLE: 100, CANARY: 0}, salt)
        self.canary_percent: float = 0
        self._lock = threading.Lock()
        self._outcomes: deque[tuple[float, bool]] = deque()  # (time, is_error), oldest first
        self._session = requests.Session()

    def set_canary_percent(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be within [0, 100], got {percent!r}")
        # with_weights keeps the salt: a user who saw the canary at 5 % still sees it at 50 %.
        self._splitter = self._splitter.with_weights({STABLE: 100 - percent, CANARY: percent})
        self.canary_percent = percent

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            answer = self._session.post(self._urls[variant] + "/predict", json=payload, timeout=self._timeout_s)
            # JSON text is UTF-8 whatever the Content-Type says; .json() would decode text/plain as ISO-8859-1.
            status, body = answer.status_code, json.loads(answer.content.decode("utf-8"), parse_constant=_not_json)
        except (requests.RequestException, ValueError) as exc:  # refused, timed out, not JSON (or not UTF-8)
            status, body = 502, {"error": f"{variant} did not answer: {exc.__class__.__name__}"}
        if variant == CANARY:
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, status >= 500))
                # Forget what no window can ask for any more: memory stays bounded.
                while self._outcomes and self._outcomes[0][0] < now - self._max_window_s:
                    self._outcomes.popleft()
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self._max_window_s:
            raise ValueError(f"window_s must be within (0, {self._max_window_s}], got {window_s!r}")
        now = self._clock()
        with self._lock:
            recent = [is_error for at, is_error in self._outcomes if now - window_s <= at <= now]
        return sum(recent), len(recent)

    def close(self) -> None:
        self._session.close()
