"""urllib from the standard library, and a time-sorted list searched with bisect."""
from __future__ import annotations

import bisect
import json
import math
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPException

from traffic import TrafficSplitter


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON value")


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self.urls = {"stable": stable_url, "canary": canary_url}
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errors: list[bool] = []
        self._guard = threading.Lock()

    def set_canary_percent(self, percent):
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError("percent must be within [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self.splitter.route(user_id)

    def _post(self, base, payload):
        url = base[:-1] + "/predict" if base.endswith("/") else base + "/predict"
        req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    status, raw = resp.status, resp.read()
            except urllib.error.HTTPError as err:
                status, raw = err.code, err.read()
            return status, json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (OSError, HTTPException, ValueError) as err:
            return 502, {"error": f"{type(err).__name__}: {err}"}

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        status, body = self._post(self.urls[variant], payload)
        if variant == "canary":
            t = self.clock()
            with self._guard:
                i = bisect.bisect_right(self._times, t)
                self._times.insert(i, t)
                self._errors.insert(i, status >= 500)
                cut = bisect.bisect_left(self._times, t - self.max_window_s)
                if cut:
                    del self._times[:cut], self._errors[:cut]
        return status, body

    def error_counts(self, window_s):
        if not (0 < window_s <= self.max_window_s):
            raise ValueError("window_s must be in (0, max_window_s]")
        now = self.clock()
        with self._guard:
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            errs = self._errors[lo:hi]
        return sum(errs), len(errs)
