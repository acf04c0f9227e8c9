"""Style: urllib.request from the standard library; history as a list of canary outcome times pruned by bisect."""
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


class _StrictJSONDecoder(json.JSONDecoder):
    """A decoder that refuses NaN, Infinity and -Infinity, which json.loads takes by default."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(parse_constant=self._refuse, **kwargs)

    @staticmethod
    def _refuse(name: str) -> float:
        raise ValueError(f"{name} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._base = {"stable": stable_url, "canary": canary_url}
        self._timeout = timeout_s
        self._max_window = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100.0, "canary": 0.0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._lock = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"percent {percent} outside [0, 100]")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def _post(self, url: str, payload: Any) -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        url = self._base[variant].rstrip("/") + "/predict"
        try:
            status, raw = self._post(url, payload)
            body = json.loads(raw.decode("utf-8"), cls=_StrictJSONDecoder)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            status, body = 502, {"error": f"{type(exc).__name__}: {exc}"}
        if variant == "canary":
            self._record(status >= 500)
        return status, body

    def _record(self, is_error: bool) -> None:
        with self._lock:
            now = self._clock()
            i = bisect.bisect_right(self._times, now)
            self._times.insert(i, now)
            self._errors.insert(i, is_error)
            cut = bisect.bisect_left(self._times, now - self._max_window)
            if cut:
                del self._times[:cut]
                del self._errors[:cut]

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not 0 < window_s <= self._max_window:
            raise ValueError("window_s outside (0, max_window_s]")
        with self._lock:
            now = self._clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            flags = self._errors[lo:hi]
        return sum(flags), len(flags)
