"""Task 6 with requests and a deque."""

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


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = {"stable": stable_url.rstrip("/") + "/predict", "canary": canary_url.rstrip("/") + "/predict"}
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self.session = requests.Session()
        self.outcomes: collections.deque = collections.deque()
        self.lock = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError("percent must be in [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            answer = self.session.post(self.urls[variant], json=payload, timeout=self.timeout_s)
            result = (answer.status_code, json.loads(answer.content.decode("utf-8"), parse_constant=_not_json))
        except (requests.RequestException, ValueError) as exc:
            result = (502, {"error": str(exc)})
        if variant == "canary":
            now = self.clock()
            with self.lock:
                self.outcomes.append((now, result[0] >= 500))
                while self.outcomes and self.outcomes[0][0] < now - self.max_window_s:
                    self.outcomes.popleft()
        return result

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError("window_s outside (0, max_window_s]")
        now = self.clock()
        with self.lock:
            inside = [err for t, err in self.outcomes if now - window_s <= t <= now]
        return sum(inside), len(inside)
