"""Token bucket computed in exact fractions, one re-entrant lock around every step."""
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
            raise ValueError("capacity must be > 0 and refill_rate >= 0")
        self._capacity = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._clock = clock
        self._guard = threading.RLock()
        with self._guard:
            self._tokens = self._capacity
            self._stamp = _exact(clock())

    def _advance(self) -> Fraction:
        with self._guard:
            now = _exact(self._clock())
            if now > self._stamp:
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
            return self._tokens

    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if not tokens > 0:  # also NaN
            raise ValueError("tokens must be a positive number")
        if tokens > self._capacity:
            return False
        want = _exact(tokens)
        with self._guard:
            if self._advance() < want:
                return False
            self._tokens -= want
            return True

    def get_available_tokens(self) -> float:
        with self._guard:
            count = self._advance()
            below = float(count)
            if below > count:
                below = math.nextafter(below, 0.0)  # a bucket refusing 1 token never reports 1
            return below
