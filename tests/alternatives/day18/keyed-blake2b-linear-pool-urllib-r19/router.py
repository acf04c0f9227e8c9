"""Task 6 with urllib and a list of timestamps."""
from __future__ import annotations

import http.client
import bisect
import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock=time.monotonic) -> None:
        self._endpoints = {
            "stable": stable_url.rstrip("/") + "/predict",
            "canary": canary_url.rstrip("/") + "/predict",
        }
        self._timeout_s = timeout_s
        self._max_window_s = max_window_s
        self._clock = clock
        self._split = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errs: list[bool] = []
        self._mu = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        p = float(percent)
        if math.isnan(p) or p < 0 or p > 100:
            raise ValueError("percent must be in [0, 100]")
        self._split = self._split.with_weights({"stable": 100 - p, "canary": p})

    def variant_for(self, user_id: str) -> str:
        return self._split.route(user_id)

    def _post(self, url: str, payload: Any) -> tuple[int, Any]:
        req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (http.client.HTTPException, urllib.error.URLError, OSError, socket.timeout) as e:
            return 502, {"error": f"upstream unreachable: {e}"}
        def no_constants(name: str) -> float:
            raise ValueError(f"{name} is not JSON")

        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=no_constants)
        except ValueError as e:
            return 502, {"error": f"upstream answered no JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self._endpoints[variant], payload)
        if variant == "canary":
            t = self._clock()
            with self._mu:
                i = bisect.bisect_left(self._times, t)
                self._times.insert(i, t)
                self._errs.insert(i, status >= 500)
                cut = bisect.bisect_left(self._times, t - self._max_window_s)
                if cut:
                    del self._times[:cut]
                    del self._errs[:cut]
        return status, body

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self._max_window_s):
            raise ValueError("window_s outside (0, max_window_s]")
        now = self._clock()
        with self._mu:
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            errs = self._errs[lo:hi]
        return sum(errs), len(errs)
