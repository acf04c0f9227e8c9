"""urllib instead of requests; a plain list of events pruned by time."""

import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.request

from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url, canary_url, *, salt="", timeout_s=2.0, max_window_s=3600.0, clock=time.monotonic):
        self.targets = {"stable": stable_url.rstrip("/"), "canary": canary_url.rstrip("/")}
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"canary": 0, "stable": 1}, salt=salt)
        self.events = []
        self.guard = threading.Lock()

    def set_canary_percent(self, percent):
        if math.isnan(percent) or percent < 0 or percent > 100:
            raise ValueError("percent out of range")
        self.splitter = self.splitter.with_weights({"canary": percent, "stable": 100 - percent})

    def variant_for(self, user_id):
        return self.splitter.route(user_id)

    @staticmethod
    def _loads(raw):
        def refuse(constant):
            raise ValueError(f"{constant} is not JSON")
        return json.loads(raw.decode("utf-8"), parse_constant=refuse)

    def _post(self, url, payload):
        request = urllib.request.Request(url + "/predict", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return answer.status, self._loads(answer.read())
        except urllib.error.HTTPError as error:
            try:
                return error.code, self._loads(error.read())
            except ValueError:
                return 502, {"error": "upstream answered without JSON"}
        except (http.client.HTTPException, OSError, ValueError) as error:
            return 502, {"error": f"upstream failed: {error!r}"}

    def predict(self, user_id, payload):
        variant = self.variant_for(user_id)
        status, body = self._post(self.targets[variant], payload)
        if variant == "canary":
            t = self.clock()
            with self.guard:
                self.events = [e for e in self.events if e[0] >= t - self.max_window_s]
                self.events.append((t, status >= 500))
        return status, body

    def error_counts(self, window_s):
        if not (0 < window_s <= self.max_window_s):
            raise ValueError("window out of range")
        t = self.clock()
        with self.guard:
            inside = [bad for at, bad in self.events if t - window_s <= at <= t]
        return sum(inside), len(inside)
