"""Task 6: a canary router on urllib, canary outcomes kept in time order and counted with bisect."""

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


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._targets = {"stable": stable_url, "canary": canary_url}
        self._timeout = timeout_s
        self._max_window = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[int] = []  # running count of errors, parallel to _times
        self._guard = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"canary percent must be within 0..100, got {percent}")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    @staticmethod
    def _no_constant(name: str) -> float:
        raise ValueError(f"{name} is not allowed in JSON")

    def _post(self, base: str, payload: Any) -> tuple[int, Any]:
        url = base[:-1] + "/predict" if base.endswith("/") else base + "/predict"
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (http.client.HTTPException, urllib.error.URLError, OSError) as e:
            return 502, {"error": f"no answer: {e}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=self._no_constant)
        except ValueError as e:
            return 502, {"error": f"answer is not JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self._targets[variant], payload)
        if variant == "canary":
            self._record(status >= 500)
        return status, body

    def _record(self, is_error: bool) -> None:
        with self._guard:
            now = self._clock()
            previous = self._errors[-1] if self._errors else 0
            self._times.append(now)
            self._errors.append(previous + int(is_error))
            cut = bisect.bisect_left(self._times, now - self._max_window)
            if cut:
                del self._times[:cut]
                base = self._errors[cut - 1]
                self._errors = [e - base for e in self._errors[cut:]]

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self._max_window:
            raise ValueError(f"window_s must be in (0, {self._max_window}]")
        with self._guard:
            now = self._clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            if hi <= lo:
                return 0, 0
            before = self._errors[lo - 1] if lo else 0
            return self._errors[hi - 1] - before, hi - lo
