"""Task 2: token bucket counting exactly in fractions.Fraction."""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable
from fractions import Fraction


def _plain(x):
    """A Python int or float for any real number (NumPy scalars included)."""
    if isinstance(x, numbers.Integral):
        return int(x)
    return float(x)


def _exact(x) -> Fraction:
    return Fraction(x)


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
        if isinstance(capacity, float) and math.isinf(capacity) or isinstance(refill_rate, float) and math.isinf(refill_rate):
            raise ValueError("capacity and refill_rate must be finite")
        self._lock = threading.Lock()
        self._capacity = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._tokens = self._capacity
        self._clock = clock
        self._last = _exact(clock())

    def _refill(self) -> None:
        # caller holds the lock
        now = _exact(self._clock())
        if now > self._last:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        tokens = _plain(tokens)
        if not tokens > 0:  # zero, negative, -inf and NaN
            raise ValueError(f"tokens must be > 0, got {tokens!r}")
        if tokens > self._capacity:  # inf and huge ints compare exactly with a Fraction
            return False
        wanted = _exact(tokens)
        with self._lock:
            self._refill()
            if self._tokens < wanted:
                return False
            self._tokens -= wanted
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            count = self._tokens
        approx = float(count)
        if approx > count:
            approx = math.nextafter(approx, -math.inf)
        return approx
