"""Task 2: token bucket counting exactly in fractions.Fraction, guarded by an RLock with try/finally."""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable
from fractions import Fraction


def _exact(x) -> Fraction | float:
    """Exact Fraction of a real number; +-inf and NaN come back as floats."""
    if isinstance(x, numbers.Integral):
        return Fraction(int(x))
    f = float(x)
    if math.isnan(f) or math.isinf(f):
        return f
    return Fraction(f)


def _round_down(q: Fraction) -> float:
    f = float(q)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cap = _exact(capacity)
        rate = _exact(refill_rate)
        if isinstance(cap, float) and math.isnan(cap) or not cap > 0:
            raise ValueError(f"bad capacity {capacity!r}")
        if isinstance(rate, float) and math.isnan(rate) or not rate >= 0:
            raise ValueError(f"bad refill_rate {refill_rate!r}")
        self._cap = cap
        self._rate = rate
        self._clock = clock
        self._lock = threading.RLock()
        self._tokens = cap
        self._stamp = _exact(clock())

    def _refill_locked(self) -> None:
        now = _exact(self._clock())
        if now > self._stamp:
            gained = (now - self._stamp) * self._rate
            self._tokens = min(self._cap, self._tokens + gained)
            self._stamp = now

    def consume(self, tokens: float = 1) -> bool:
        want = _exact(tokens)
        if isinstance(want, float) and math.isnan(want):
            raise ValueError("NaN tokens")
        if not want > 0:
            raise ValueError(f"tokens must be positive, got {tokens!r}")
        if want > self._cap:
            return False
        self._lock.acquire()
        try:
            self._refill_locked()
            if self._tokens >= want:
                self._tokens -= want
                return True
            return False
        finally:
            self._lock.release()

    def get_available_tokens(self) -> float:
        self._lock.acquire()
        try:
            self._refill_locked()
            return _round_down(Fraction(self._tokens))
        finally:
            self._lock.release()
