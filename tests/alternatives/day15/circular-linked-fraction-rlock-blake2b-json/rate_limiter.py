"""Task 2: a token bucket that counts in exact fractions, guarded by a re-entrant lock."""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from numbers import Rational


def _exact(number: float) -> Fraction:
    return Fraction(number) if isinstance(number, Rational) else Fraction(float(number))  # numpy.float32 too


def _synchronized(method):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._guard:
            return method(self, *args, **kwargs)
    return locked


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not capacity > 0:
            raise ValueError("capacity must be greater than 0")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must be 0 or more")
        self._guard = threading.RLock()
        self._clock = clock
        self._capacity = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._level = self._capacity
        self._stamp = _exact(clock())

    def _settle(self) -> None:
        now = _exact(self._clock())
        if now > self._stamp:
            self._level = min(self._capacity, self._level + (now - self._stamp) * self._rate)
            self._stamp = now

    @_synchronized
    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if tokens > self._capacity:  # infinity too, which no Fraction can hold
            return False
        if not tokens > 0:  # minus infinity and NaN (of any type) too, which no Fraction can hold either
            raise ValueError("tokens must be greater than 0")
        wanted = _exact(tokens)
        if wanted <= 0:
            raise ValueError("tokens must be greater than 0")
        self._settle()
        if wanted > self._level:
            return False
        self._level -= wanted
        return True

    @_synchronized
    def get_available_tokens(self) -> float:
        self._settle()
        level = float(self._level)  # nearest float: may be a hair above the exact level
        return level if level <= self._level else math.nextafter(level, 0.0)
