"""Task 6, alt style: urllib from the standard library, a lock-guarded list pruned by filtering."""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from traffic import TrafficSplitter


class _NotJSON(ValueError):
    pass


def _parse(raw: bytes) -> Any:
    def refuse(constant):
        raise _NotJSON(f"{constant} is not JSON")
    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


class CanaryRouter:
    VARIANTS = ("stable", "canary")

    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0, clock=time.monotonic):
        self._endpoint = {v: (u[:-1] if u.endswith("/") else u) + "/predict"
                          for v, u in zip(self.VARIANTS, (stable_url, canary_url))}
        self._timeout, self._horizon, self._clock = timeout_s, max_window_s, clock
        self._split = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._mutex = threading.Lock()
        self._seen: list[tuple[float, bool]] = []

    def set_canary_percent(self, percent):
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"a canary share is 0 to 100 %, got {percent}")
        self._split = self._split.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self._split.route(user_id)

    def _call(self, url, payload):
        req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:  # 4xx/5xx: still an answer with a body
            with err:
                return err.code, err.read()

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        try:
            status, raw = self._call(self._endpoint[variant], payload)
            result = (status, _parse(raw))
        except (OSError, http.client.HTTPException, ValueError) as e:
            result = (502, {"error": f"{variant} gave no JSON answer: {type(e).__name__}: {e}"})
        if variant == "canary":
            self._record(result[0] >= 500)
        return result

    def _record(self, is_error):
        with self._mutex:
            now = self._clock()
            self._seen.append((now, is_error))
            if len(self._seen) > 1 and self._seen[0][0] < now - self._horizon:
                self._seen = [(t, e) for t, e in self._seen if t >= now - self._horizon]

    def error_counts(self, window_s):
        if not (window_s > 0 and window_s <= self._horizon):
            raise ValueError(f"window_s must lie in (0, {self._horizon}]")
        with self._mutex:
            now = self._clock()
            hits = [e for t, e in self._seen if now - window_s <= t <= now]
        return sum(hits), len(hits)
