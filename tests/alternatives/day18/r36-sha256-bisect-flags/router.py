from __future__ import annotations
import json
import math
import threading
import time
from collections import deque

import requests

from traffic import TrafficSplitter


def _no_nan(token):
    raise ValueError(f"{token} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self._urls = {"stable": stable_url.rstrip("/") + "/predict",
                      "canary": canary_url.rstrip("/") + "/predict"}
        self._timeout = timeout_s
        self._max_window = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._outcomes = deque()
        self._lock = threading.Lock()
        self._session = requests.Session()

    def set_canary_percent(self, percent):
        if not 0 <= percent <= 100:
            raise ValueError("percent")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self._splitter.route(user_id)

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        try:
            answer = requests.post(self._urls[variant], json=payload, timeout=self._timeout)
            status, body = answer.status_code, json.loads(answer.content.decode("utf-8"), parse_constant=_no_nan)
        except (requests.RequestException, ValueError) as exc:
            status, body = 502, {"error": str(exc)}
        if variant == "canary":
            with self._lock:
                now = self._clock()
                self._outcomes.append((now, status >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self._max_window:
                    self._outcomes.popleft()
        return status, body

    def error_counts(self, window_s):
        if not 0 < window_s <= self._max_window:
            raise ValueError("window_s")
        with self._lock:
            now = self._clock()
            errors = total = 0
            for t, err in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += err
        return errors, total
