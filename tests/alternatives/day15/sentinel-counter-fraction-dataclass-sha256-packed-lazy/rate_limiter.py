"""Token bucket kept in exact fractions, a small state object guarded by one lock."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from numbers import Rational


def _exact(number) -> Fraction:
    """An exact Fraction of any real number: Fraction() refuses a numpy.float32, which is no float."""
    return Fraction(number) if isinstance(number, Rational) else Fraction(float(number))


@dataclass
class _State:
    tokens: Fraction
    stamp: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity <= 0 or capacity != capacity:
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:  # NaN too
            raise ValueError("refill_rate must be >= 0")
        self._capacity = _exact(capacity)
        self._rate = _exact(refill_rate)
        self._clock = clock
        self._state = _State(tokens=self._capacity, stamp=clock())

    def _advance(self) -> Fraction:
        s = self._state
        now = self._clock()
        if now > s.stamp:
            gained = (_exact(now) - _exact(s.stamp)) * self._rate
            s.tokens = min(self._capacity, s.tokens + gained)
            s.stamp = now
        return s.tokens

    def consume(self, tokens: float = 1) -> bool:
        tokens = tokens if isinstance(tokens, Rational) else float(tokens)  # numpy.longdouble: no Fraction compares with it
        if not tokens > 0:
            raise ValueError("tokens must be > 0")
        if tokens > self._capacity:
            return False
        want = _exact(tokens)
        with self._state.lock:
            have = self._advance()
            if want > have:
                return False
            self._state.tokens = have - want
        return True

    def get_available_tokens(self) -> float:
        with self._state.lock:
            exact = self._advance()
            rounded = float(exact)
            return rounded if rounded <= exact else math.nextafter(rounded, -math.inf)
