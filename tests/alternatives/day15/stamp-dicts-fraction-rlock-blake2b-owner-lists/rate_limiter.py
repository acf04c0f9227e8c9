"""Token bucket in exact arithmetic: every count and time difference is a Fraction."""

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
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity <= 0 or capacity != capacity:
            raise ValueError("capacity must be positive")
        if refill_rate < 0 or refill_rate != refill_rate:
            raise ValueError("refill_rate must not be negative")
        self._capacity = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._clock = clock
        self._guard = threading.RLock()
        with self._guard:
            self._tokens = self._capacity
            self._stamp = _exact(clock())

    def _tokens_now(self) -> Fraction:
        """Bring the count up to the clock's current reading; call with the guard held."""
        now = _exact(self._clock())
        if now > self._stamp:
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        return self._tokens

    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if tokens > self._capacity:
            return False
        if not tokens > 0:  # also NaN
            raise ValueError(f"consume() needs a positive number of tokens, got {tokens!r}")
        wanted = _exact(tokens)
        with self._guard:
            if self._tokens_now() < wanted:
                return False
            self._tokens -= wanted
            return True

    def get_available_tokens(self) -> float:
        with self._guard:
            now_tokens = self._tokens_now()
            value = float(now_tokens)
            return math.nextafter(value, 0.0) if value > now_tokens else value
