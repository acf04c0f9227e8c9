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
    """Exact arithmetic in fractions; state is a (tokens, stamp) pair replaced under an RLock."""

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
        self._state = (self._capacity, _exact(clock()))

    def _settled(self) -> Fraction:
        tokens, stamp = self._state
        now = _exact(self._clock())
        if now <= stamp:
            return tokens
        tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
        self._state = (tokens, now)
        return tokens

    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if tokens != tokens:
            raise ValueError("tokens must be a number")
        if tokens <= 0:  # minus infinity too, which no Fraction can hold
            raise ValueError("tokens must be positive")
        if tokens > self._capacity:  # infinity too, which no Fraction can hold
            return False
        want = _exact(tokens)
        if want <= 0:
            raise ValueError("tokens must be positive")
        if want > self._capacity:
            return False
        with self._guard:
            have = self._settled()
            if have >= want:
                self._state = (have - want, self._state[1])
                return True
            return False

    def get_available_tokens(self) -> float:
        with self._guard:
            settled = self._settled()
            shown = float(settled)
            return math.nextafter(shown, -math.inf) if shown > settled else shown  # never above the count
