"""Token bucket with a lock and lazy refill."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not capacity > 0:
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must be >= 0")
        self._capacity = float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(capacity)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._last:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:
            raise ValueError(f"tokens must be > 0, got {tokens!r}")
        if tokens > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= float(tokens)
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens
