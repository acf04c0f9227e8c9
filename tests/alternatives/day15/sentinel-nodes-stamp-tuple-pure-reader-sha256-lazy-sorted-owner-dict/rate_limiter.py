from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    """State is (tokens, stamp); the count at any moment is a pure function of both."""

    def __init__(self, capacity, refill_rate, clock: Callable[[], float] = time.monotonic) -> None:
        if not capacity > 0:  # NaN too
            raise ValueError("capacity <= 0")
        if not refill_rate >= 0:  # NaN too
            raise ValueError("refill_rate < 0")
        self._cap = float(capacity)
        self._rate = refill_rate
        self._clock = clock
        self._mutex = threading.RLock()
        self._state = (capacity, clock())

    def _level(self, now):
        tokens, stamp = self._state
        if now <= stamp:
            return tokens, stamp
        return min(self._cap, tokens + (now - stamp) * self._rate), now

    def consume(self, tokens=1) -> bool:
        if not tokens > 0:
            raise ValueError("tokens must be > 0")
        if tokens > self._cap:
            return False
        with self._mutex:
            level, stamp = self._level(self._clock())
            if level >= tokens:
                self._state = (level - tokens, stamp)
                return True
            self._state = (level, stamp)
            return False

    def get_available_tokens(self) -> float:
        with self._mutex:
            level, _ = self._level(self._clock())
            return level
