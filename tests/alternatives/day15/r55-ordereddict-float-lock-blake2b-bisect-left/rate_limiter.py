"""Token bucket with lazy refill, counted in Python floats."""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable


def _plain(x):
    """A Python int or float holding the same number (NumPy scalars of any width included)."""
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, str):
        raise TypeError(f"expected a number, got {x!r}")
    return float(x)


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        capacity, refill_rate = _plain(capacity), _plain(refill_rate)
        if not capacity > 0:
            raise ValueError(f"capacity must be > 0, got {capacity!r}")
        if not refill_rate >= 0:
            raise ValueError(f"refill_rate must be >= 0, got {refill_rate!r}")
        self._capacity = capacity
        self._rate = refill_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = capacity
        self._last = clock()

    def _refill(self) -> None:
        # caller holds the lock
        now = self._clock()
        if now > self._last:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        tokens = _plain(tokens)
        if not tokens > 0:
            raise ValueError(f"tokens must be > 0, got {tokens!r}")
        if tokens > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return float(self._tokens)
