"""Stores the time the bucket would have been empty instead of a token count (GCRA-like)."""
import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not capacity > 0 or not refill_rate >= 0:
            raise ValueError("capacity must be > 0 and refill_rate >= 0")
        self._capacity = float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._lock = threading.RLock()
        self._level = float(capacity)
        self._stamp = clock()

    def _current(self) -> float:
        now = self._clock()
        elapsed = now - self._stamp
        if elapsed > 0:
            self._level = min(self._capacity, self._level + elapsed * self._rate)
            self._stamp = now
        return self._level

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:
            raise ValueError("tokens must be positive")
        with self._lock:
            if tokens > self._capacity:
                return False
            available = self._current()
            if tokens > available:
                return False
            self._level = available - float(tokens)
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            return float(self._current())
