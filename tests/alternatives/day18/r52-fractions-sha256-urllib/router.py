"""Task 6: a canary router on the standard library's urllib."""
from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter


def _no_constants(token: str):
    raise ValueError(f"{token} is not JSON")


def _parse(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.targets = {
            "stable": f"{stable_url.rstrip('/')}/predict",
            "canary": f"{canary_url.rstrip('/')}/predict",
        }
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._history: deque[tuple[float, int]] = deque()
        self._guard = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        try:
            p = float(percent)
        except (TypeError, ValueError) as exc:
            raise ValueError("percent must be a number") from exc
        if math.isnan(p) or p < 0 or p > 100:
            raise ValueError(f"percent {percent!r} outside [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - p, "canary": p})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    def _call(self, url: str, payload: Any) -> tuple[int, Any]:
        data = json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status = err.code
            try:
                raw = err.read()
            finally:
                err.close()
        return status, _parse(raw)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        try:
            status, body = self._call(self.targets[variant], payload)
        except (urllib.error.URLError, http.client.HTTPException, OSError, socket.timeout,
                ValueError) as exc:
            status, body = 502, {"error": repr(exc)}
        if variant == "canary":
            self._record(status >= 500)
        return status, body

    def _record(self, failed: bool) -> None:
        with self._guard:
            now = self.clock()
            self._history.append((now, int(failed)))
            horizon = now - self.max_window_s
            while self._history and self._history[0][0] < horizon:
                self._history.popleft()

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (window_s > 0 and window_s <= self.max_window_s):
            raise ValueError(f"window_s must be in (0, {self.max_window_s}]")
        with self._guard:
            now = self.clock()
            picked = [failed for t, failed in self._history if now - window_s <= t <= now]
        return sum(picked), len(picked)
