"""Token bucket with exact rational arithmetic (fractions.Fraction) under a Lock."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from numbers import Rational


def _exact(number) -> Fraction:
    """An exact Fraction of any real number: Fraction() refuses a numpy.float32, which is no float."""
    return Fraction(number) if isinstance(number, Rational) else Fraction(float(number))


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not capacity > 0 or not refill_rate >= 0:  # NaN too
            raise ValueError("need capacity > 0 and refill_rate >= 0")
        self._cap = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self._cap
        self._last = _exact(clock())

    def _refill(self) -> None:
        now = _exact(self._clock())
        if now > self._last:
            self._tokens = min(self._cap, self._tokens + (now - self._last) * self._rate)
            self._last = now  # a clock stepping back leaves the stamp: 5 -> 10 again was counted

    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if not tokens > 0:  # NaN too
            raise ValueError("tokens must be > 0")
        if tokens > self._cap:  # infinity too, which no Fraction can hold
            return False
        want = _exact(tokens)
        if want > self._cap:
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
            as_float = float(self._tokens)
            if as_float > self._tokens:  # rounded up to the nearest float: step one float down
                as_float = math.nextafter(as_float, 0.0)
            return as_float
