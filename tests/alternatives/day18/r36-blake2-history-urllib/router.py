from __future__ import annotations
import bisect
import json
import math
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from traffic import TrafficSplitter


def _reject(constant):
    raise ValueError(f"{constant} is not JSON")


class CanaryRouter:
    """urllib-based; canary outcomes kept in two parallel sorted lists."""

    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self.urls = {"stable": stable_url, "canary": canary_url}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self.clock = clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errs: list[bool] = []
        self._mu = threading.Lock()

    def set_canary_percent(self, percent):
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"percent must be in [0, 100], got {percent!r}")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self.splitter.route(user_id)

    def _post(self, url, payload):
        target = url[:-1] + "/predict" if url.endswith("/") else url + "/predict"
        req = urllib.request.Request(target, data=json.dumps(payload).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status = err.code
            try:
                raw = err.read()
            except Exception as exc:
                return 502, {"error": f"incomplete answer: {exc}"}
        except Exception as exc:
            return 502, {"error": f"no answer: {exc}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=_reject)
        except ValueError as exc:
            return 502, {"error": f"not JSON: {exc}"}

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        status, body = self._post(self.urls[variant], payload)
        if variant == "canary":
            with self._mu:
                t = self.clock()
                self._times.append(t)
                self._errs.append(status >= 500)
                cut = bisect.bisect_left(self._times, t - self.max_window_s)
                if cut:
                    del self._times[:cut]
                    del self._errs[:cut]
        return status, body

    def error_counts(self, window_s):
        if not (window_s > 0 and window_s <= self.max_window_s):
            raise ValueError("window_s")
        with self._mu:
            now = self.clock()
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            chunk = self._errs[lo:hi]
        return sum(chunk), len(chunk)
