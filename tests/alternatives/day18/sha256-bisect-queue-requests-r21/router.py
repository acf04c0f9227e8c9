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


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self._timeout = timeout_s
        self._max_window = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._outcomes: deque = deque()
        self._lock = threading.Lock()
        self._session = requests.Session()

    def set_canary_percent(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent {percent} outside [0, 100]")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    @staticmethod
    def _refuse(constant: str) -> float:
        raise ValueError(f"{constant} is not JSON")

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            r = self._session.post(self._urls[variant] + "/predict", json=payload, timeout=self._timeout)
            result = (r.status_code, json.loads(r.content.decode("utf-8"), parse_constant=self._refuse))
        except (requests.RequestException, ValueError) as e:
            result = (502, {"error": str(e)})
        if variant == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, result[0] >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self._max_window:
                    self._outcomes.popleft()
        return result

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self._max_window:
            raise ValueError(f"window {window_s} outside (0, {self._max_window}]")
        now = self._clock()
        with self._lock:
            inside = [e for t, e in self._outcomes if now - window_s <= t <= now]
        return sum(inside), len(inside)
