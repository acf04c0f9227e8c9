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


def _reject_non_json_constant(token: str) -> float:
    raise ValueError(f"{token!r} is not valid JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoints = {name: url.rstrip("/") + "/predict"
                          for name, url in (("stable", stable_url), ("canary", canary_url))}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._guard = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"percent out of [0, 100]: {percent!r}")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def _post(self, url: str, payload: Any) -> tuple[int, Any]:
        data = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    status, raw = response.status, response.read()
            except urllib.error.HTTPError as answer:  # 4xx and 5xx still carry a body
                with answer:
                    status, raw = answer.code, answer.read()
            return status, json.loads(raw.decode("utf-8"), parse_constant=_reject_non_json_constant)
        except (OSError, http.client.HTTPException, ValueError) as problem:
            return 502, {"error": f"no usable answer from {url}: {problem!r}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self.endpoints[variant], payload)
        if variant == "canary":
            with self._guard:
                now = self.clock()
                self._times.append(now)
                self._errors.append(status >= 500)
                cut = bisect.bisect_left(self._times, now - self.max_window_s)
                if cut:
                    del self._times[:cut]
                    del self._errors[:cut]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        with self._guard:
            now = self.clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            flags = self._errors[lo:hi]
        return sum(flags), len(flags)
