"""Canary router on urllib (no requests), with outcome times kept in sorted lists for bisect."""
from __future__ import annotations

import bisect
import http.client
import json
import math
import socket
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
        self.urls = {"stable": stable_url, "canary": canary_url}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.splitter = TrafficSplitter({"stable": 1.0, "canary": 0.0}, salt=salt)
        self._guard = threading.RLock()
        self._times: list[float] = []
        self._errors: list[float] = []

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"percent {percent!r} is not in [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def _post(self, base: str, payload: Any) -> tuple[int, Any]:
        url = base if base.endswith("/") else base + "/"
        request = urllib.request.Request(url + "predict", data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, http.client.HTTPException, OSError, socket.timeout) as e:
            return 502, {"error": f"no answer from {base}: {e}"}
        def refuse(constant: str) -> float:
            raise ValueError(f"{constant} is not a JSON value")

        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=refuse)
        except ValueError as e:
            return 502, {"error": f"the answer from {base} is not JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self.urls[variant], payload)
        if variant == "canary":
            self._record(self.clock(), status >= 500)

        return status, body

    def _record(self, t: float, failed: bool) -> None:
        with self._guard:
            bisect.insort(self._times, t)
            if failed:
                bisect.insort(self._errors, t)
            horizon = t - self.max_window_s
            for series in (self._times, self._errors):
                del series[:bisect.bisect_left(series, horizon)]

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self.max_window_s:
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        now = self.clock()
        with self._guard:
            def inside(series):
                return bisect.bisect_right(series, now) - bisect.bisect_left(series, now - window_s)
            return inside(self._errors), inside(self._times)
