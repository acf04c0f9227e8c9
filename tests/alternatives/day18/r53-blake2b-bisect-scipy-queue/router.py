"""Task 6."""
from __future__ import annotations

import json
import math
import threading
import time
from collections import deque

import requests

from traffic import TrafficSplitter


def _no_constant(name):
    raise ValueError(f"not JSON: {name}")


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self._urls = {"stable": stable_url.rstrip("/") + "/predict",
                      "canary": canary_url.rstrip("/") + "/predict"}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._outcomes = deque()
        self._lock = threading.Lock()
        self._session = requests.Session()

    def set_canary_percent(self, percent):
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise ValueError("percent")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self._splitter.route(user_id)

    def _post(self, url, payload):
        try:
            answer = requests.post(url, json=payload, timeout=self.timeout_s)
            body = json.loads(answer.content.decode("utf-8"), parse_constant=_no_constant)
            return answer.status_code, body
        except (requests.RequestException, ValueError) as exc:
            return 502, {"error": str(exc) or type(exc).__name__}

    def predict(self, user_id, payload):
        variant = self._splitter.route(user_id)
        status, body = self._post(self._urls[variant], payload)
        if variant == "canary":
            with self._lock:
                now = self._clock()
                self._outcomes.append((now, status >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self.max_window_s:
                    self._outcomes.popleft()
        return status, body

    def error_counts(self, window_s):
        if isinstance(window_s, bool) or not 0 < window_s <= self.max_window_s:
            raise ValueError("window_s")
        with self._lock:
            now = self._clock()
            errors = total = 0
            for t, bad in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += bad
        return errors, total
