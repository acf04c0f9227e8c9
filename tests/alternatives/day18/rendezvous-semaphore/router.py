"""Task 6: a canary router on urllib (standard library), outcomes in two sorted lists."""

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


def _constant_is_not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = {"stable": stable_url, "canary": canary_url}
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 100.0, "canary": 0.0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._lock = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"the canary's share must be 0..100, got {percent}")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def _post(self, base: str, payload: Any) -> tuple[int, Any]:
        url = base + "predict" if base.endswith("/") else base + "/predict"
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as failed:
            status, raw = failed.code, failed.read()
        except (http.client.HTTPException, OSError, urllib.error.URLError) as exc:
            return 502, {"error": f"no answer from {url}: {exc}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=_constant_is_not_json)
        except ValueError as exc:
            return 502, {"error": f"{url} answered {status} without JSON: {exc}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self.urls[variant], payload)
        if variant == "canary":
            with self._lock:
                now = self.clock()
                at = bisect.bisect_right(self._times, now)
                self._times.insert(at, now)
                self._errors.insert(at, status >= 500)
                old = bisect.bisect_left(self._times, now - self.max_window_s)
                del self._times[:old], self._errors[:old]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        with self._lock:
            now = self.clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            return sum(self._errors[lo:hi]), hi - lo
