"""Token bucket counted in exact fractions; float reports round down."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction

import numbers


def _exact(x) -> Fraction | float:
    """An exact Fraction for finite numbers; infinities and NaN stay floats."""
    if isinstance(x, numbers.Integral):
        return Fraction(int(x))
    f = float(x)  # NumPy floats of every width, Python floats
    if math.isfinite(f):
        return Fraction(f)
    return f


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cap, rate = _exact(capacity), _exact(refill_rate)
        if cap != cap or cap <= 0:
            raise ValueError(f"capacity must be a number > 0, got {capacity!r}")
        if rate != rate or rate < 0:
            raise ValueError(f"refill_rate must be a number >= 0, got {refill_rate!r}")
        self._capacity = cap
        self._rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = cap
        self._last = _exact(clock())

    def _refill(self) -> None:
        now = _exact(self._clock())
        if now > self._last:
            gained = (now - self._last) * self._rate
            self._tokens = min(self._capacity, self._tokens + gained)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        want = _exact(tokens)
        if want != want or want <= 0:
            raise ValueError(f"tokens must be a number > 0, got {tokens!r}")
        if want > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens >= want:
                self._tokens -= want
                return True
            return False

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            count = self._tokens
        f = float(count)
        if f > count:
            f = math.nextafter(f, 0.0)
        return f
