"""Task 2: a token-bucket rate limiter with lazy refill and one lock."""

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
        if not capacity > 0:  # NaN too
            raise ValueError(f"capacity must be positive, got {capacity}")
        if not refill_rate >= 0:  # NaN too
            raise ValueError(f"refill_rate must not be negative, got {refill_rate}")
        self._capacity = float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._tokens = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now  # a clock stepping back leaves the stamp: 5 -> 10 again was counted

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:  # NaN too
            raise ValueError(f"tokens must be positive, got {tokens}")
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
