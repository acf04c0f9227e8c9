"""Task 6 with urllib.request from the standard library and a list of outcomes."""
from __future__ import annotations

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


def _reject_constant(token: str):
    raise ValueError(f"{token} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = {"stable": stable_url, "canary": canary_url}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.split = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errs: list[bool] = []
        self._mu = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if not (0 <= percent <= 100):
            raise ValueError("percent must be within [0, 100]")
        self.split = self.split.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.split.route(user_id)

    def _call(self, base: str, payload: Any) -> tuple[int, Any]:
        url = base if base.endswith("/") else base + "/"
        req = urllib.request.Request(url + "predict", data=json.dumps(payload).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            try:
                resp = urllib.request.urlopen(req, timeout=self.timeout_s)
            except urllib.error.HTTPError as err:
                resp = err
            with resp:
                status = resp.status if hasattr(resp, "status") and resp.status else resp.code
                raw = resp.read()
        except (urllib.error.URLError, http.client.HTTPException, OSError, socket.timeout) as exc:
            return 502, {"error": f"upstream unreachable: {exc!r}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except ValueError as exc:
            return 502, {"error": f"upstream answer is not JSON: {exc}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.split.route(user_id)
        status, body = self._call(self.urls[variant], payload)
        if variant == "canary":
            t = self.clock()
            with self._mu:
                self._times.append(t)
                self._errs.append(status >= 500)
                self._forget(t)
        return status, body

    def _forget(self, now: float) -> None:
        keep = [i for i, t in enumerate(self._times) if t >= now - self.max_window_s]
        if len(keep) != len(self._times):
            self._times = [self._times[i] for i in keep]
            self._errs = [self._errs[i] for i in keep]

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self.max_window_s):
            raise ValueError("window_s must be in (0, max_window_s]")
        now = self.clock()
        with self._mu:
            self._forget(now)
            sel = [e for t, e in zip(self._times, self._errs) if now - window_s <= t <= now]
        return sum(sel), len(sel)
