from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not capacity > 0:  # NaN too
            raise ValueError("capacity must be positive")
        if not refill_rate >= 0:  # NaN too
            raise ValueError("refill_rate must not be negative")
        self.capacity = float(capacity)
        self.refill_rate = float(refill_rate)
        self._clock = clock
        self._tokens = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.refill_rate)
            self._last = now  # a clock stepping back leaves the stamp: 5 -> 10 again was counted

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:  # NaN too
            raise ValueError("tokens must be positive")
        if tokens > self.capacity:
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
