"""Token bucket with exact (Fraction) arithmetic."""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from numbers import Rational


def _exact(x):
    """A Fraction for a finite number, a float for NaN or an infinity."""
    if isinstance(x, (str, bytes, bytearray)):
        raise TypeError(f"expected a number, got {type(x).__name__}")
    try:
        return Fraction(operator.index(x))
    except TypeError:
        pass
    if isinstance(x, (Rational, Decimal)) and not isinstance(x, float):
        if isinstance(x, Decimal) and not x.is_finite():
            return float(x)
        return Fraction(x)
    f = float(x)  # every NumPy float width, float subclasses
    if math.isnan(f) or math.isinf(f):
        return f
    return Fraction(f)


def _report(count: Fraction) -> float:
    f = float(count)
    if Fraction(f) > count:
        f = math.nextafter(f, -math.inf)
    return f


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cap, rate = _exact(capacity), _exact(refill_rate)
        if isinstance(cap, float) or isinstance(rate, float):
            raise ValueError("capacity and refill_rate must be finite numbers, not NaN or infinite")
        if cap <= 0:
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        if rate < 0:
            raise ValueError(f"refill_rate must not be negative, got {refill_rate!r}")
        self._capacity = cap
        self._rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = cap
        self._last = _exact(clock())

    def _refill(self) -> None:
        now = _exact(self._clock())
        if now > self._last:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        n = _exact(tokens)
        if isinstance(n, float):
            if n == math.inf:
                return False
            raise ValueError(f"tokens must be a positive number, got {tokens!r}")
        if n <= 0:
            raise ValueError(f"tokens must be positive, got {tokens!r}")
        if n > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens < n:
                return False
            self._tokens -= n
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return _report(self._tokens)
