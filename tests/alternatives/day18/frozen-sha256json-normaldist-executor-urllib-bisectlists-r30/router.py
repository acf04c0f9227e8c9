"""Canary router on urllib, with a time-sorted list of canary outcomes."""

from __future__ import annotations

import bisect
import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter


def _not_a_json_number(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = {name: url.rstrip("/") + "/predict" for name, url in
                     (("stable", stable_url), ("canary", canary_url))}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._lock = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"canary percent must be within 0..100, got {percent}")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def _post(self, url: str, payload: Any) -> tuple[int, Any]:
        data = json.dumps(payload).encode()
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status = e.code
            try:
                raw = e.read()
            finally:
                e.close()
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=_not_a_json_number)
        except ValueError as e:
            return 502, {"error": f"upstream answered {status} with a body that is not JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            status, body = self._post(self.urls[variant], payload)
        except (OSError, http.client.HTTPException) as e:
            status, body = 502, {"error": f"no answer from {variant}: {e!r}"}
        if variant == "canary":
            self._record(self.clock(), status >= 500)
        return status, body

    def _record(self, t: float, is_error: bool) -> None:
        with self._lock:
            at = bisect.bisect_right(self._times, t)
            self._times.insert(at, t)
            self._errors.insert(at, is_error)
            cut = bisect.bisect_left(self._times, t - self.max_window_s)
            if cut:
                del self._times[:cut]
                del self._errors[:cut]

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self.max_window_s):
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        now = self.clock()
        with self._lock:
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            return sum(self._errors[lo:hi]), hi - lo
