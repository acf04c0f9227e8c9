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


def _no_nan_or_infinity(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON value")  # json.loads would take it


class CanaryRouter:
    """urllib for HTTP; the canary's outcomes in two parallel lists sorted by time."""

    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stable_url = stable_url
        self.canary_url = canary_url
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.splitter = TrafficSplitter({"stable": 100.0, "canary": 0.0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._guard = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError("percent must be between 0 and 100")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def _post(self, base: str, payload: Any) -> tuple[int, Any]:
        url = base[:-1] + "/predict" if base.endswith("/") else base + "/predict"
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                    status, raw = answer.status, answer.read()
            except urllib.error.HTTPError as answer:
                status, raw = answer.code, answer.read()
            return status, json.loads(raw.decode("utf-8"), parse_constant=_no_nan_or_infinity)
        except (http.client.HTTPException, OSError, ValueError) as exc:  # URLError, timeouts, refused; JSON decode errors
            return 502, {"error": repr(exc)}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self.canary_url if variant == "canary" else self.stable_url, payload)
        if variant == "canary":
            now = self.clock()
            with self._guard:
                at = bisect.bisect_right(self._times, now)
                self._times.insert(at, now)
                self._errors.insert(at, status >= 500)
                old = bisect.bisect_left(self._times, now - self.max_window_s)
                del self._times[:old], self._errors[:old]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        now = self.clock()
        with self._guard:
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            flags = self._errors[lo:hi]
        return sum(flags), len(flags)
