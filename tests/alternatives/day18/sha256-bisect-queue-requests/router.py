"""Task 6: a canary router in front of two real model servers (requests + deque)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests

from traffic import TrafficSplitter


def _reject_nan_and_infinity(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self._timeout_s = timeout_s
        self._max_window_s = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._session = requests.Session()
        self._outcomes: deque = deque()
        self._lock = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be in [0, 100], got {percent!r}")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self._splitter.route(user_id)
        try:
            response = self._session.post(self._urls[variant] + "/predict", json=payload, timeout=self._timeout_s)
            result = (response.status_code, json.loads(
                    response.content.decode("utf-8"), parse_constant=_reject_nan_and_infinity))
        except (requests.RequestException, ValueError) as e:
            result = (502, {"error": f"{variant} gave no usable answer: {e}"})
        if variant == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, result[0] >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self._max_window_s:
                    self._outcomes.popleft()
        return result

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self._max_window_s:
            raise ValueError(f"window_s must be in (0, {self._max_window_s}], got {window_s!r}")
        now = self._clock()
        errors = total = 0
        with self._lock:
            for t, is_error in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += is_error
        return errors, total
