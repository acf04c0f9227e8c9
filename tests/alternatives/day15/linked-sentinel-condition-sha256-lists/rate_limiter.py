"""Token bucket kept as 'the clock time at which the bucket was last full-credited'.

State is (tokens at `stamp`, stamp); reads compute tokens lazily; a Condition guards it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not capacity > 0:
            raise ValueError("capacity must be positive")
        if not refill_rate >= 0:  # NaN too
            raise ValueError("refill_rate must not be negative")
        self.capacity = float(capacity)
        self.refill_rate = refill_rate
        self._clock = clock
        self._guard = threading.Condition(threading.RLock())
        self._level = float(capacity)
        self._stamp = clock()

    def _level_now(self) -> tuple[float, float]:
        now = self._clock()
        gained = max(0.0, now - self._stamp) * self.refill_rate
        return min(self.capacity, self._level + gained), now

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:  # NaN too
            raise ValueError("tokens must be positive")
        if tokens > self.capacity:
            return False
        with self._guard:
            level, now = self._level_now()
            self._level, self._stamp = level, now
            if tokens > level:
                return False
            self._level = level - tokens
            return True

    def get_available_tokens(self) -> float:
        with self._guard:
            level, _ = self._level_now()
            return level
