"""Task 6 (requests.Session + deque)."""
from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests

from traffic import TrafficSplitter


def _no_constant(name):
    raise ValueError(f"not JSON: {name}")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": stable_url.rstrip("/") + "/predict",
                      "canary": canary_url.rstrip("/") + "/predict"}
        self.timeout_s = timeout_s
        self.max_window_s = max_window_s
        self._clock = clock
        self._splitter = TrafficSplitter({"stable": 100, "canary": 0}, salt)
        self._outcomes: deque = deque()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def set_canary_percent(self, percent: float) -> None:
        if isinstance(percent, bool):
            raise ValueError("percent")
        p = float(percent)
        if not 0 <= p <= 100:
            raise ValueError("percent out of range")
        self._splitter = self._splitter.with_weights({"stable": 100 - p, "canary": p})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self._splitter.route(user_id)
        try:
            answer = self._session().post(self._urls[variant], json=payload, timeout=self.timeout_s)
            content = answer.content
            status = answer.status_code
            try:
                body = json.loads(content.decode("utf-8"), parse_constant=_no_constant)
                result = (status, body)
            except (ValueError, UnicodeDecodeError) as exc:
                result = (502, {"error": f"upstream body is not JSON: {exc}"})
        except requests.RequestException as exc:
            result = (502, {"error": f"no answer from {variant}: {exc}"})
        if variant == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, result[0] >= 500))
                cutoff = now - self.max_window_s
                while self._outcomes and self._outcomes[0][0] < cutoff:
                    self._outcomes.popleft()
        return result

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if isinstance(window_s, bool) or not 0 < window_s <= self.max_window_s:
            raise ValueError("window_s")
        now = self._clock()
        errors = total = 0
        with self._lock:
            cutoff = now - self.max_window_s
            while self._outcomes and self._outcomes[0][0] < cutoff:
                self._outcomes.popleft()
            for t, err in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += err
        return errors, total
