"""Token bucket whose reads are pure: state changes only when tokens are taken."""
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
        self._rate = refill_rate
        self._clock = clock
        self._level = capacity       # tokens at time self._stamp
        self._stamp = clock()
        self._guard = threading.RLock()

    def _level_at(self, now: float) -> float:
        return min(self._capacity, self._level + max(0.0, now - self._stamp) * self._rate)

    def get_available_tokens(self) -> float:
        with self._guard:
            return self._level_at(self._clock())

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:
            raise ValueError("tokens must be > 0")
        if tokens > self._capacity:  # 10**400 too: never compared with a count that may be a NumPy float
            return False
        with self._guard:
            now = self._clock()
            level = self._level_at(now)
            if tokens > level:
                return False
            self._level = level - tokens
            self._stamp = now
            return True
