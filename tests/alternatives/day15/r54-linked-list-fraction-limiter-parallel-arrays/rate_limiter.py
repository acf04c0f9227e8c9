"""Token bucket counted exactly with fractions.Fraction."""
from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction


def _exact(x) -> Fraction | float:
    """An exact Fraction for any finite number; NaN and infinities come back as floats."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"expected a number, got {type(x).__name__}")
    if isinstance(x, numbers.Integral):
        return Fraction(int(x))
    if isinstance(x, (Fraction, Decimal)):
        if isinstance(x, Decimal) and not x.is_finite():
            return float(x)
        return Fraction(x)
    f = float(x)  # every NumPy float, whatever its width
    if math.isnan(f) or math.isinf(f):
        return f
    return Fraction(f)


def _as_float_not_above(count: Fraction) -> float:
    f = float(count)
    if f > count:
        f = math.nextafter(f, -math.inf)
    return f


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        capacity, refill_rate = _exact(capacity), _exact(refill_rate)
        if capacity != capacity or capacity <= 0:
            raise ValueError("capacity must be a number above 0")
        if refill_rate != refill_rate or refill_rate < 0:
            raise ValueError("refill_rate must be a number of at least 0")
        if isinstance(capacity, float) or isinstance(refill_rate, float):
            raise ValueError("an infinite capacity or refill rate is not supported")
        self._capacity = capacity
        self._rate = refill_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = capacity
        self._last = Fraction(float(clock()))

    def _refill(self) -> None:
        now = Fraction(float(self._clock()))
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        wanted = _exact(tokens)
        if wanted != wanted or wanted <= 0:
            raise ValueError(f"tokens must be a number above 0, got {tokens!r}")
        if wanted > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens >= wanted:
                self._tokens -= wanted
                return True
            return False

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return _as_float_not_above(self._tokens)
