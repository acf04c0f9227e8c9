from __future__ import annotations
import json, math, threading, time
from collections import deque
import requests
from traffic import TrafficSplitter


def _bad_const(c):
    raise ValueError(f"{c} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self._urls = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self._timeout = timeout_s
        self._max_window = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._lock = threading.Lock()
        self._outcomes = deque()
        self._session = requests.Session()

    def set_canary_percent(self, percent):
        if not 0 <= percent <= 100:
            raise ValueError("percent")
        sp = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})
        self._splitter = sp

    def variant_for(self, user_id):
        return self._splitter.route(user_id)

    def predict(self, user_id, payload):
        v = self.variant_for(user_id)
        try:
            r = requests.post(self._urls[v] + "/predict", json=payload, timeout=self._timeout)
            status = r.status_code
            try:
                body = json.loads(r.content.decode("utf-8"), parse_constant=_bad_const)
            except ValueError as e:
                status, body = 502, {"error": f"not JSON: {e}"}
        except requests.RequestException as e:
            status, body = 502, {"error": str(e)}
        if v == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, status >= 500))
                while self._outcomes and self._outcomes[0][0] < now - self._max_window:
                    self._outcomes.popleft()
        return status, body

    def error_counts(self, window_s):
        if not 0 < window_s <= self._max_window:
            raise ValueError("window_s")
        now = self._clock()
        with self._lock:
            sel = [e for t, e in self._outcomes if now - window_s <= t <= now]
        return sum(sel), len(sel)
