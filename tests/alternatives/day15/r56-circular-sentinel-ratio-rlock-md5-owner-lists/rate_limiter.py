"""Token bucket: exact rational state, explicit lock acquire/release."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any


def _ratio(x: Any) -> Fraction | None:
    """Exact value of x, or None for NaN; +/-inf come back as float infinities."""
    if x != x:
        return None
    if isinstance(x, int) or hasattr(x, "__index__"):
        return Fraction(int(x))
    if isinstance(x, Fraction):
        return x
    try:
        num, den = x.as_integer_ratio()
    except OverflowError:
        return math.inf if x > 0 else -math.inf  # type: ignore[return-value]
    except AttributeError:
        f = float(x)
        if math.isinf(f):
            return math.inf if f > 0 else -math.inf  # type: ignore[return-value]
        num, den = f.as_integer_ratio()
    return Fraction(int(num), int(den))


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cap = _ratio(capacity)
        rate = _ratio(refill_rate)
        if cap is None or rate is None:
            raise ValueError("NaN capacity or refill rate")
        if cap <= 0:
            raise ValueError("capacity must be positive")
        if rate < 0:
            raise ValueError("refill_rate must not be negative")
        if not isinstance(cap, Fraction) or not isinstance(rate, Fraction):
            raise ValueError("infinite capacity or refill rate")
        self._lock = threading.RLock()
        self._clock = clock
        self._cap = cap
        self._rate = rate
        self._level = cap
        self._stamp = _ratio(clock())

    def _catch_up(self) -> None:
        now = _ratio(self._clock())
        elapsed = now - self._stamp
        if elapsed <= 0:
            return  # the clock stepped back (or stood still): nothing to add
        self._level = min(self._cap, self._level + elapsed * self._rate)
        self._stamp = now

    def consume(self, tokens: float = 1) -> bool:
        want = _ratio(tokens)
        if want is None or want <= 0:
            raise ValueError("tokens must be a positive number")
        if want > self._cap:
            return False
        self._lock.acquire()
        try:
            self._catch_up()
            if want > self._level:
                return False
            self._level = self._level - want
            return True
        finally:
            self._lock.release()

    def get_available_tokens(self) -> float:
        self._lock.acquire()
        try:
            self._catch_up()
            level = self._level
        finally:
            self._lock.release()
        out = float(level)
        while Fraction(out) > level:
            out = math.nextafter(out, 0.0)
        return out
