from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if math.isnan(capacity) or capacity <= 0:
            raise ValueError("capacity must be > 0")
        if math.isnan(refill_rate) or refill_rate < 0:
            raise ValueError("refill_rate must be >= 0")
        self.capacity = float(capacity)
        self.refill_rate = float(refill_rate)
        self.clock = clock
        self._guard = threading.RLock()
        self._state = (float(capacity), clock())  # (tokens, reading they are valid at)

    def _current(self) -> float:
        """Bring the state up to the clock's reading now; call with the guard held."""
        tokens, since = self._state
        now = self.clock()
        if now > since:
            tokens = min(self.capacity, tokens + (now - since) * self.refill_rate)
            self._state = (tokens, now)
        return tokens

    def consume(self, tokens: float = 1) -> bool:
        if tokens != tokens:  # NaN of any type, numpy.float32 too
            raise ValueError("NaN tokens")
        if tokens <= 0:
            raise ValueError("tokens must be > 0")
        if tokens > self.capacity:
            return False
        with self._guard:
            available = self._current()
            if tokens > available:
                return False
            self._state = (available - float(tokens), self._state[1])
            return True

    def get_available_tokens(self) -> float:
        with self._guard:
            return self._current()
