"""Token bucket counted exactly in fractions.Fraction."""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable
from fractions import Fraction


def _number(x):
    """A Python int or float for any int-like or float-like input (NumPy scalars of every width too)."""
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, (str, bytes)):
        raise TypeError(f"expected a number, got {x!r}")
    return float(x)


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        capacity, refill_rate = _number(capacity), _number(refill_rate)
        if not capacity > 0:
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        if not refill_rate >= 0:
            raise ValueError(f"refill_rate must not be negative, got {refill_rate!r}")
        self._capacity = Fraction(capacity)
        self._rate = Fraction(refill_rate)
        self._clock = clock
        self._lock = threading.RLock()  # re-entrant: a helper may take it again
        self._tokens = self._capacity
        self._last = clock()

    def _refill_locked(self) -> None:
        now = self._clock()
        if now > self._last:
            gained = (Fraction(now) - Fraction(self._last)) * self._rate
            self._tokens = min(self._capacity, self._tokens + gained)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        wanted = _number(tokens)
        if not wanted > 0:
            raise ValueError(f"tokens must be positive, got {tokens!r}")
        if wanted > self._capacity:
            return False
        wanted = Fraction(wanted)
        self._lock.acquire()
        try:
            self._refill_locked()
            if wanted > self._tokens:
                return False
            self._tokens -= wanted
            return True
        finally:
            self._lock.release()

    def get_available_tokens(self) -> float:
        self._lock.acquire()
        try:
            self._refill_locked()
            exact = self._tokens
        finally:
            self._lock.release()
        approx = float(exact)
        if approx > exact:  # float() rounded up: never report more than the bucket holds
            approx = math.nextafter(approx, -math.inf)
        return approx
