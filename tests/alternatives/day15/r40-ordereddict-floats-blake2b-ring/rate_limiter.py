"""Task 2: token bucket with Python floats and a Lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def _num(x):
    # NumPy scalars become Python numbers; ints stay exact (10**400 must not overflow).
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    if hasattr(x, "item") and not isinstance(x, (int, float)):
        x = x.item()
    return x


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        capacity = _num(capacity)
        refill_rate = _num(refill_rate)
        if not capacity > 0:
            raise ValueError(f"capacity must be > 0, got {capacity!r}")
        if not refill_rate >= 0:
            raise ValueError(f"refill_rate must be >= 0, got {refill_rate!r}")
        self._capacity = float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self._capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        tokens = _num(tokens)
        if not tokens > 0:  # also NaN
            raise ValueError(f"tokens must be > 0, got {tokens!r}")
        if tokens > self._capacity:
            return False
        tokens = float(tokens)
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens
