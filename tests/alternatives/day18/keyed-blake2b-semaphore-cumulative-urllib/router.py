"""Task 6: canary router with urllib and cumulative counts searched by bisect."""

from __future__ import annotations

import http.client
import bisect
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from traffic import TrafficSplitter


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stable_url = stable_url.rstrip("/")
        self.canary_url = canary_url.rstrip("/")
        self.timeout_s, self.max_window_s, self.clock = timeout_s, max_window_s, clock
        self.splitter = TrafficSplitter({"stable": 100.0, "canary": 0.0}, salt=salt)
        # canary answers as parallel lists: times, and running totals of errors and answers
        self._times: list[float] = []
        self._errors_upto: list[int] = []
        self._base_errors = 0
        self._answers_before = 0
        self._mutex = threading.Lock()

    def set_canary_percent(self, percent: float) -> None:
        if not (0 <= percent <= 100):
            raise ValueError(f"percent {percent!r} is not in [0, 100]")
        self.splitter = self.splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self.splitter.route(user_id)

    @staticmethod
    def _reject_constant(name: str) -> float:
        raise ValueError(f"{name} is not valid JSON")

    def _post(self, base: str, payload: Any) -> tuple[int, Any]:
        request = urllib.request.Request(base + "/predict", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (http.client.HTTPException, OSError, ValueError) as e:  # URLError, timeouts, refused, bad answers
            return 502, {"error": f"no answer from {base}: {e}"}
        try:
            return status, json.loads(raw.decode("utf-8"), parse_constant=self._reject_constant)
        except ValueError as e:
            return 502, {"error": f"{base} did not answer JSON: {e}"}

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self.variant_for(user_id)
        status, body = self._post(self.canary_url if variant == "canary" else self.stable_url, payload)
        if variant == "canary":
            self._record(status >= 500)
        return status, body

    def _record(self, is_error: bool) -> None:
        with self._mutex:
            now = self.clock()
            previous = self._errors_upto[-1] if self._errors_upto else self._base_errors
            self._times.append(now)
            self._errors_upto.append(previous + int(is_error))
            cut = bisect.bisect_left(self._times, now - self.max_window_s)
            if cut:
                self._base_errors = self._errors_upto[cut - 1]
                del self._times[:cut]
                del self._errors_upto[:cut]

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if not (0 < window_s <= self.max_window_s):
            raise ValueError(f"window_s {window_s!r} must be in (0, {self.max_window_s}]")
        now = self.clock()
        with self._mutex:
            lo = bisect.bisect_left(self._times, now - window_s)
            hi = bisect.bisect_right(self._times, now)
            if hi <= lo:
                return 0, 0
            before = self._errors_upto[lo - 1] if lo else self._base_errors
            return self._errors_upto[hi - 1] - before, hi - lo
