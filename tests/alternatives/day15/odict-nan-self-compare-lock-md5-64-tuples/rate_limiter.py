"""Token bucket with lazy refill under one lock."""

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
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        if not refill_rate >= 0:  # NaN too
            raise ValueError(f"refill_rate must not be negative, got {refill_rate!r}")
        self.capacity = float(capacity)
        self.refill_rate = float(refill_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(capacity)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.refill_rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        if tokens != tokens or tokens <= 0:
            raise ValueError(f"tokens must be a positive number, got {tokens!r}")
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
