"""Token bucket whose readers never write: the level is computed from the last consume."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not capacity > 0:
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must be >= 0")
        self._capacity = float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._guard = threading.Condition(threading.RLock())
        # state: the level at the moment of the last successful take, and that moment
        self._state = (self._capacity, clock())

    def _level(self, now: float) -> float:
        level, since = self._state
        return min(self._capacity, level + max(0.0, now - since) * self._rate)

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:
            raise ValueError("tokens must be > 0")
        with self._guard:
            now = self._clock()
            level = self._level(now)
            if tokens > level:
                return False
            self._state = (float(level - tokens), now)  # a NumPy request must not leave a NumPy level
            return True

    def get_available_tokens(self) -> float:
        with self._guard:
            return self._level(self._clock())
