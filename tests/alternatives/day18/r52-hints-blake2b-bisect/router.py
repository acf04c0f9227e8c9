"""Task 6."""
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


def _refuse_constant(name):
    raise ValueError(f"not JSON: {name}")


class CanaryRouter:
    def __init__(self, stable_url: str, canary_url: str, *, salt: str = "", timeout_s: float = 2.0,
                 max_window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._urls = {"stable": stable_url.rstrip("/") + "/predict",
                      "canary": canary_url.rstrip("/") + "/predict"}
        self._timeout = timeout_s
        self._max_window = max_window_s
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
        if isinstance(percent, bool) or not 0 <= percent <= 100:
            raise ValueError("percent must be in [0, 100]")
        self._splitter = self._splitter.with_weights({"stable": 100 - percent, "canary": percent})

    def variant_for(self, user_id: str) -> str:
        return self._splitter.route(user_id)

    def predict(self, user_id: str, payload: Any) -> tuple[int, Any]:
        variant = self._splitter.route(user_id)
        try:
            answer = self._session().post(self._urls[variant], json=payload, timeout=self._timeout)
            content = answer.content
            body = json.loads(content.decode("utf-8"), parse_constant=_refuse_constant)
            status, result = answer.status_code, body
        except (requests.RequestException, ValueError) as exc:
            status, result = 502, {"error": f"{type(exc).__name__}: {exc}"}
        if variant == "canary":
            now = self._clock()
            with self._lock:
                self._outcomes.append((now, status >= 500))
                self._prune(now)
        return status, result

    def _prune(self, now: float) -> None:
        limit = now - self._max_window
        while self._outcomes and self._outcomes[0][0] < limit:
            self._outcomes.popleft()

    def error_counts(self, window_s: float) -> tuple[int, int]:
        if isinstance(window_s, bool) or not 0 < window_s <= self._max_window:
            raise ValueError("window_s out of range")
        with self._lock:
            now = self._clock()
            self._prune(now)
            errors = total = 0
            for t, err in self._outcomes:
                if now - window_s <= t <= now:
                    total += 1
                    errors += err
        return errors, total
