"""A token-bucket rate limiter: bursts up to `capacity`, sustained `refill_rate` per second.

Tokens are computed lazily from the clock on every call rather than by a background
timer, so the bucket is exact at any instant and costs nothing while idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Python floats from the start: NumPy compares its float with an int too large for a float (a JSON request
        # for 10**400 tokens) by converting the int, which raises OverflowError; Python compares the two exactly.
        capacity, refill_rate = float(capacity), float(refill_rate)
        if not capacity > 0:  # NaN too
            raise ValueError(f"capacity must be positive, got {capacity}")
        if not refill_rate >= 0:  # NaN too
            raise ValueError(f"refill_rate must not be negative, got {refill_rate}")
        self.capacity = capacity
        self.refill_rate = refill_rate
        self._clock = clock
        self._tokens = float(capacity)
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._updated:  # a clock stepping back refills nothing, and its way forward again was counted
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.refill_rate)
            self._updated = now

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:  # NaN too
            raise ValueError(f"tokens must be positive, got {tokens}")
        if tokens > self.capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= float(tokens)  # a NumPy float32 request would make the count float32
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens
