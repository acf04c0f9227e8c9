"""Token bucket: exact rational bookkeeping, one lock per limiter."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from numbers import Integral


def _as_number(x):
    """int/Fraction for finite values; float('nan') / float('inf') / -inf as-is."""
    if isinstance(x, Integral) or hasattr(x, "__index__"):
        return int(x)
    if isinstance(x, Fraction):
        return x
    f = float(x)
    if f != f or f in (math.inf, -math.inf):
        return f
    return Fraction(*f.as_integer_ratio())


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cap = _as_number(capacity)
        rate = _as_number(refill_rate)
        if isinstance(cap, float) or not cap > 0:
            raise ValueError(f"capacity must be a finite positive number, got {capacity!r}")
        if isinstance(rate, float) or not rate >= 0:
            raise ValueError(f"refill_rate must be a finite number >= 0, got {refill_rate!r}")
        self._capacity = Fraction(cap)
        self._rate = Fraction(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._level = self._capacity
        self._seen = Fraction(_as_number(clock()))

    def _catch_up(self) -> None:
        now = Fraction(_as_number(self._clock()))
        elapsed = now - self._seen
        if elapsed <= 0:
            return
        self._seen = now
        gained = elapsed * self._rate
        self._level = self._capacity if self._level + gained >= self._capacity else self._level + gained

    def consume(self, tokens: float = 1) -> bool:
        want = _as_number(tokens)
        if not want > 0:  # zero, negative, -inf and NaN
            raise ValueError(f"tokens must be a positive number, got {tokens!r}")
        if want > self._capacity:  # inf and huge ints too
            return False
        want = Fraction(want)
        self._lock.acquire()
        try:
            self._catch_up()
            if want > self._level:
                return False
            self._level -= want
            return True
        finally:
            self._lock.release()

    def get_available_tokens(self) -> float:
        self._lock.acquire()
        try:
            self._catch_up()
            level = self._level
        finally:
            self._lock.release()
        approx = float(level)
        return approx if Fraction(approx) <= level else math.nextafter(approx, 0.0)
