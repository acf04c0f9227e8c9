from __future__ import annotations
import json, math, threading, time, urllib.error, urllib.request
from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0,
                 clock=time.monotonic):
        self._base = {"stable": stable_url, "canary": canary_url}
        self._timeout = timeout_s
        self._horizon = max_window_s
        self._now = clock
        self._split = TrafficSplitter({"stable": 100, "canary": 0}, salt=salt)
        self._mu = threading.Lock()
        self._log: list[tuple[float, bool]] = []

    def set_canary_percent(self, percent):
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError(f"percent {percent!r} outside [0, 100]")
        self._split = self._split.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id):
        return self._split.route(user_id)

    def _post(self, url, payload):
        req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status = e.code
            try:
                raw = e.read()
            except Exception as exc:
                return 502, {"error": f"broken answer: {exc}"}
        except Exception as exc:
            return 502, {"error": f"no answer: {exc}"}
        def no_const(c):
            raise ValueError(f"{c} is not JSON")
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=no_const)
        except ValueError as exc:
            return 502, {"error": f"not JSON: {exc}"}

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        url = self._base[variant].rstrip("/") + "/predict"
        status, body = self._post(url, payload)
        if variant == "canary":
            t = self._now()
            with self._mu:
                self._log.append((t, status >= 500))
                cut = t - self._horizon
                if self._log and self._log[0][0] < cut:
                    self._log = [x for x in self._log if x[0] >= cut]
        return status, body

    def error_counts(self, window_s):
        if not (0 < window_s <= self._horizon):
            raise ValueError("window_s")
        now = self._now()
        errors = total = 0
        with self._mu:
            for t, bad in self._log:
                if now - window_s <= t <= now:
                    total += 1
                    errors += bad
        return errors, total
