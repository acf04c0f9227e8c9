"""urllib from the standard library; outcomes kept in a list trimmed by bisect."""
from __future__ import annotations

import bisect
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        def endpoint(url):
            return url + ("predict" if url.endswith("/") else "/predict")
        self.urls = {"stable": endpoint(stable_url), "canary": endpoint(canary_url)}
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 1, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._lock = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if not (0 <= percent <= 100):
            raise ValueError("percent must be within [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    @staticmethod
    def _no_constant(name):
        raise ValueError(f"{name} is not JSON")

    def _post(self, url, payload):
        data = json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            with err:
                status, raw = err.code, err.read()
        return status, json.loads(raw.decode("utf-8"), parse_constant=self._no_constant)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            status, body = self._post(self.urls[variant], payload)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            status, body = 502, {"error": f"{type(exc).__name__}: {exc}"}
        if variant == "canary":
            with self._lock:
                t = self.clock()
                i = bisect.bisect_right(self._times, t)
                self._times.insert(i, t)
                self._errors.insert(i, status >= 500)
                cut = bisect.bisect_left(self._times, t - self.max_window_s)
                del self._times[:cut], self._errors[:cut]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self.max_window_s):
            raise ValueError("window_s outside (0, max_window_s]")
        with self._lock:
            now = self.clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            inside = self._errors[lo:hi]
        return sum(inside), len(inside)
