"""Token bucket with exact (Fraction) arithmetic and lazy refill."""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any


def _exact(x: Any) -> Fraction | float:
    """An exact Fraction for a finite number; the float itself for inf/nan."""
    if isinstance(x, Fraction):
        return x
    try:
        return Fraction(operator.index(x))  # int, bool, NumPy integers, huge ints
    except TypeError:
        pass
    if isinstance(x, Decimal):
        if x.is_nan():
            return math.nan
        if x.is_infinite():
            return math.inf if x > 0 else -math.inf
        return Fraction(x)
    f = float(x)  # float and every NumPy float width
    if math.isnan(f) or math.isinf(f):
        return f
    return Fraction(f)


def _is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cap = _exact(capacity)
        rate = _exact(refill_rate)
        if _is_nan(cap) or _is_nan(rate):
            raise ValueError("capacity and refill_rate must not be NaN")
        if cap <= 0:
            raise ValueError("capacity must be > 0")
        if rate < 0:
            raise ValueError("refill_rate must be >= 0")
        if isinstance(cap, float) or isinstance(rate, float):
            raise ValueError("infinite capacity or refill_rate is not supported")
        self._capacity: Fraction = cap
        self._rate: Fraction = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: Fraction = cap
        self._last: Fraction = _exact(clock())

    def _refill(self) -> None:
        now = _exact(self._clock())
        if now > self._last:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        n = _exact(tokens)
        if _is_nan(n):
            raise ValueError("tokens must not be NaN")
        if n <= 0:
            raise ValueError("tokens must be > 0")
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
            exact = self._tokens
        f = float(exact)
        if Fraction(f) > exact:  # never report more than the bucket holds
            f = math.nextafter(f, -math.inf)
        return f
