"""Task 6: a canary router (requests.Session + deque)."""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self._timeout_s = timeout_s
        self._max_window_s = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._outcomes: collections.deque = collections.deque()

    def set_canary_percent(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be in [0, 100], got {percent}")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    @staticmethod
    def _no_constants(name: str) -> float:
        raise ValueError(f"{name} is not valid JSON")

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            response = self._session.post(f"{self._urls[variant]}/predict", json=payload, timeout=self._timeout_s)
            status, body = response.status_code, json.loads(
                    response.content.decode("utf-8"), parse_constant=self._no_constants)
        except (requests.RequestException, ValueError) as e:
            status, body = 502, {"error": str(e)}
        if variant == "canary":
            with self._lock:
                now = self._clock()
                self._outcomes.append((now, status >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self._max_window_s:
                    self._outcomes.popleft()
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self._max_window_s:
            raise ValueError(f"window_s must be in (0, {self._max_window_s}]")
        with self._lock:
            now = self._clock()
            inside = [e for t, e in self._outcomes if now - window_s <= t <= now]
        return sum(inside), len(inside)
