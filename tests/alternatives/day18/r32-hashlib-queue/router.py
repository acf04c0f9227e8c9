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


def _invalid_constant(name: str) -> float:
    raise ValueError(f"invalid JSON constant {name}")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._outcomes: deque = deque()
        self._lock = threading.Lock()
        self._session = requests.Session()

    def set_canary_percent(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise ValueError("percent must be in [0, 100]")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            resp = requests.post(self._urls[variant] + "/predict", json=payload, timeout=self.timeout_s)
            status, body = resp.status_code, json.loads(resp.content.decode("utf-8"), parse_constant=_invalid_constant)
        except (requests.RequestException, ValueError) as exc:
            status, body = 502, {"error": str(exc)}
        if variant == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, status >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self.max_window_s:
                    self._outcomes.popleft()
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError("window_s")
        now = self._clock()
        errors = total = 0
        with self._lock:
            for t, bad in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += bad
        return errors, total
