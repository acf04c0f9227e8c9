"""Task 6."""
from __future__ import annotations

import json
import math
import threading
import time
from collections import deque

import requests

from traffic import TrafficSplitter


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self._urls = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._outcomes = deque()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def set_canary_percent(self, percent):
        if isinstance(percent, bool) or not 0 <= percent <= 100:
            raise ValueError(f"percent must be in [0, 100], got {percent!r}")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self._splitter.route(user_id)

    def predict(self, user_id, payload):
        variant = self._splitter.route(user_id)
        url = self._urls[variant] + "/predict"
        try:
            answer = self._session().post(url, json=payload, timeout=self.timeout_s)
            body = json.loads(answer.content.decode("utf-8"), parse_constant=_refuse_constant)
            result = (answer.status_code, body)
        except (requests.RequestException, ValueError) as exc:
            result = (502, {"error": f"{type(exc).__name__}: {exc}"})
        if variant == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, result[0] >= 500))
                self._forget(now)
        return result

    def _forget(self, now):
        while self._outcomes and self._outcomes[0][0] < now - self.max_window_s:
            self._outcomes.popleft()

    def error_counts(self, window_s):
        if not 0 < window_s <= self.max_window_s:
            raise ValueError("window_s")
        now = self._clock()
        with self._lock:
            self._forget(now)
            errors = total = 0
            for t, bad in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += bad
        return errors, total
