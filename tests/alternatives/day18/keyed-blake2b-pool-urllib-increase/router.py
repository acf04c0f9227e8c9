"""Task 6: a canary router on the standard library's urllib, outcomes in a time-sorted list."""

from __future__ import annotations

import http.client
import bisect
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter

STABLE, CANARY = "stable", "canary"


def _refuse_nan(constant: str) -> float:
    raise ValueError(f"JSON has no {constant}")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._endpoints = {STABLE: stable_url.rstrip("/") + "/predict", CANARY: canary_url.rstrip("/") + "/predict"}
        self._timeout = timeout_s
        self._horizon = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({STABLE: 1, CANARY: 0}, salt=salt)
        self._guard = threading.Lock()
        self._times: list[float] = []
        self._errors: list[bool] = []

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"a canary share is 0..100 %, got {percent}")
        self._splitter = self._splitter.with_weights({STABLE: 100 - percent, CANARY: percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def _post(self, url: str, payload: Any) -> tuple[int, Any]:
        data = json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (http.client.HTTPException, OSError, urllib.error.URLError) as e:  # refused, timed out, reset
            return 502, {"error": f"no answer from {url}: {e}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=_refuse_nan)
        except ValueError as e:
            return 502, {"error": f"the answer from {url} is not JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self._endpoints[variant], payload)
        if variant == CANARY:
            with self._guard:
                now = self._clock()
                self._times.append(now)
                self._errors.append(status >= 500)
                cut = bisect.bisect_left(self._times, now - self._horizon)
                if cut:
                    del self._times[:cut]
                    del self._errors[:cut]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self._horizon):
            raise ValueError(f"window_s must be in (0, {self._horizon}]")
        with self._guard:
            now = self._clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            flags = self._errors[lo:hi]
        return sum(flags), len(flags)
