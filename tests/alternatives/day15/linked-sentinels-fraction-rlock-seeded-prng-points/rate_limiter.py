"""Token bucket kept in exact fractions, guarded by an RLock; the stored time never moves back."""

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
        if capacity != capacity or capacity <= 0:
            raise ValueError("capacity must be > 0")
        if refill_rate != refill_rate or refill_rate < 0:
            raise ValueError("refill_rate must be >= 0")
        self._capacity = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._clock = clock
        self._guard = threading.RLock()
        self._tokens = self._capacity
        self._stamp = _exact(clock())

    def _tokens_now(self) -> Fraction:
        now = _exact(self._clock())
        if now > self._stamp:
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        return self._tokens

    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if not tokens > 0:
            raise ValueError(f"tokens must be > 0, got {tokens}")
        if tokens > self._capacity:
            return False
        wanted = _exact(tokens)
        with self._guard:
            if self._tokens_now() < wanted:
                return False
            self._tokens -= wanted
            return True

    def get_available_tokens(self) -> float:
        with self._guard:
            tokens = self._tokens_now()
            approx = float(tokens)
            while approx > tokens:  # float() rounds to nearest; a report must not round up
                approx = math.nextafter(approx, 0)
            return approx
