"""Task 6 with http.client and a time-sorted list cut with bisect."""

from __future__ import annotations

import bisect
import http.client
import json
import math
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": urllib.parse.urlsplit(stable_url.rstrip("/")),
                      "canary": urllib.parse.urlsplit(canary_url.rstrip("/"))}
        self._timeout = timeout_s
        self._max_window = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._errors: list[bool] = []

    def set_canary_percent(self, percent: float) -> None:
        if not (0 <= percent <= 100):
            raise ValueError(f"percent must be within [0, 100], got {percent}")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    @staticmethod
    def _refuse_constant(name):
        raise ValueError(f"{name} is not JSON")

    def _post(self, url, payload):
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.hostname, url.port, timeout=self._timeout)
        try:
            data = json.dumps(payload).encode()
            conn.request("POST", url.path + "/predict", body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw.decode("utf-8"), parse_constant=self._refuse_constant)
        finally:
            conn.close()

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            status, body = self._post(self._urls[variant], payload)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            status, body = 502, {"error": f"{variant} gave no usable answer: {exc}"}
        if variant == "canary":
            with self._lock:
                now = self._clock()
                self._times.append(now)
                self._errors.append(status >= 500)
                cut = bisect.bisect_left(self._times, now - self._max_window)
                if cut:
                    del self._times[:cut]
                    del self._errors[:cut]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self._max_window):
            raise ValueError(f"window_s must be in (0, {self._max_window}]")
        now = self._clock()
        with self._lock:
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            chosen = self._errors[lo:hi]
        return sum(chosen), len(chosen)
