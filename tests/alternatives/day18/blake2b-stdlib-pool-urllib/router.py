"""Task 6: a canary router on urllib, keeping the canary's outcomes in a trimmed list."""

from __future__ import annotations

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


def _json_constant(name: str) -> float:
    """NaN, Infinity and -Infinity: json.loads accepts them, JSON (RFC 8259) does not."""
    raise ValueError(f"{name} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stable_url, self.canary_url = stable_url, canary_url
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 100.0, "canary": 0.0}, salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._mutex = threading.Lock()

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
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (http.client.HTTPException, urllib.error.URLError, OSError) as e:
            return 502, {"error": f"no answer from {base}: {e}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=_json_constant)
        except ValueError as e:
            return 502, {"error": f"{base} answered something that is not JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self.canary_url if variant == "canary" else self.stable_url, payload)
        if variant == "canary":
            now = self.clock()
            with self._mutex:
                self._times.append(now)
                self._errors.append(status >= 500)
                keep = 0
                while keep < len(self._times) and self._times[keep] < now - self.max_window_s:
                    keep += 1
                if keep:
                    del self._times[:keep], self._errors[:keep]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        now = self.clock()
        with self._mutex:
            inside = [err for t, err in zip(self._times, self._errors) if now - window_s <= t <= now]
        return sum(inside), len(inside)
