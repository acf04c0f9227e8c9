"""Task 6 (alt): a Session, urljoin-free URL building, a list of timestamps per outcome."""
from __future__ import annotations

import bisect
import json
import math
import threading
import time

import requests

from traffic import TrafficSplitter


def _reject(constant):
    raise ValueError(f"{constant} is not JSON")


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        base = lambda u: u[:-1] if u.endswith("/") else u  # noqa: E731
        self.stable_url, self.canary_url = base(stable_url), base(canary_url)
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._times: list[float] = []
        self._errs: list[bool] = []
        self._guard = threading.RLock()
        self._local = threading.local()

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def set_canary_percent(self, percent):
        p = float(percent)
        if math.isnan(p) or p < 0 or p > 100:
            raise ValueError(f"percent {percent!r} outside [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - p, "canary": p})

    def variant_for(self, user_id):
        return self.splitter.route(user_id)

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        url = (self.canary_url if variant == "canary" else self.stable_url) + "/predict"
        try:
            resp = self._session().post(url, json=payload, timeout=self.timeout_s)
            raw = resp.content
            status, body = resp.status_code, json.loads(raw.decode("utf-8"), parse_constant=_reject)
        except requests.RequestException as exc:
            status, body = 502, {"error": f"no answer: {exc}"}
        except ValueError as exc:
            status, body = 502, {"error": f"not JSON: {exc}"}
        if variant == "canary":
            with self._guard:
                now = self.clock()
                i = bisect.bisect_right(self._times, now)
                self._times.insert(i, now)
                self._errs.insert(i, status >= 500)
                cut = bisect.bisect_left(self._times, now - self.max_window_s)
                if cut:
                    del self._times[:cut]
                    del self._errs[:cut]
        return status, body

    def error_counts(self, window_s):
        w = float(window_s)
        if not 0 < w <= self.max_window_s:
            raise ValueError("window_s outside (0, max_window_s]")
        with self._guard:
            now = self.clock()
            lo = bisect.bisect_left(self._times, now - w)
            hi = bisect.bisect_right(self._times, now)
            return sum(self._errs[lo:hi]), hi - lo
