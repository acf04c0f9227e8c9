"""Task 6: a canary router on urllib, with a sorted list of canary outcomes."""
from __future__ import annotations

import bisect
import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.request

from traffic import TrafficSplitter


def _no_constants(token):
    raise ValueError(f"{token} is not a JSON value")


def _decode(raw: bytes):
    return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self._targets = {
            "stable": stable_url.rstrip("/") + "/predict",
            "canary": canary_url.rstrip("/") + "/predict",
        }
        self._timeout = timeout_s
        self._keep = max_window_s
        self._clock = clock
        self._split = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._guard = threading.Lock()
        self._times: list[float] = []   # arrival times of canary answers, kept sorted
        self._errors: list[int] = []    # 1 for an error, parallel to _times

    def set_canary_percent(self, percent):
        if not (isinstance(percent, (int, float)) and not isinstance(percent, bool)):
            raise ValueError("percent must be a number")
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"percent must be within [0, 100], got {percent}")
        self._split = self._split.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self._split.route(user_id)

    def _post(self, url, payload):
        data = json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:  # a 4xx/5xx answer still has a body
            with err:
                return err.code, err.read()

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        try:
            status, raw = self._post(self._targets[variant], payload)
            outcome = (status, _decode(raw))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            outcome = (502, {"error": f"{variant} gave no JSON answer: {exc!r}"})
        if variant == "canary":
            self._record(self._clock(), outcome[0] >= 500)
        return outcome

    def _record(self, t, is_error):
        with self._guard:
            i = bisect.bisect_right(self._times, t)
            self._times.insert(i, t)
            self._errors.insert(i, int(is_error))
            self._trim(t)

    def _trim(self, now):
        cut = bisect.bisect_left(self._times, now - self._keep)
        if cut:
            del self._times[:cut]
            del self._errors[:cut]

    def error_counts(self, window_s):
        if not (isinstance(window_s, (int, float)) and 0 < window_s <= self._keep):
            raise ValueError(f"window_s must be in (0, {self._keep}]")
        now = self._clock()
        with self._guard:
            self._trim(now)
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            return sum(self._errors[lo:hi]), hi - lo
