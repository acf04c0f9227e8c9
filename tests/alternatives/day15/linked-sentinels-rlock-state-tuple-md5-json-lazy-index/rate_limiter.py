from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] | None = None) -> None:
        if not capacity > 0:
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must be >= 0")
        self._capacity = float(capacity)
        self._rate = float(refill_rate)
        self._clock = time.monotonic if clock is None else clock
        self._mutex = threading.RLock()
        self._state = (float(capacity), self._clock())  # (tokens, stamp)

    def _current(self) -> float:
        # caller holds the mutex
        tokens, stamp = self._state
        now = self._clock()
        if now > stamp:
            tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
            self._state = (tokens, now)
        return tokens

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:  # catches NaN too
            raise ValueError(f"tokens must be > 0, got {tokens!r}")
        if tokens > self._capacity:
            return False
        self._mutex.acquire()
        try:
            available = self._current()
            if tokens > available:
                return False
            self._state = (available - float(tokens), self._state[1])
            return True
        finally:
            self._mutex.release()

    def get_available_tokens(self) -> float:
        with self._mutex:
            return self._current()
