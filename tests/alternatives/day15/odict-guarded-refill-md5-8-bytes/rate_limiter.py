"""Task 2: a token-bucket rate limiter, the gate in front of a model server.

Contract (the tests check exactly this):
- `TokenBucketRateLimiter(capacity, refill_rate, clock=time.monotonic)`; capacity <= 0
  or refill_rate < 0 raises ValueError. The bucket starts full.
- Tokens refill continuously at `refill_rate` per second of `clock()` time (fractions
  count, every stretch of time exactly once), never beyond `capacity`.
- `consume(tokens=1)` takes all the tokens and returns True, or takes none and
  returns False. tokens <= 0 (or NaN) raises ValueError; more than `capacity` returns False.
  Compare the exact count: 0.99999 tokens are not enough for 1.
- `get_available_tokens()` returns the current (fractional) number of tokens.
- Safe to share between threads: concurrent consumers never get more than the bucket holds.
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
        if not capacity > 0:  # NaN too
            raise ValueError("capacity must be positive")
        if not refill_rate >= 0:  # NaN too
            raise ValueError("refill_rate must not be negative")
        self._capacity = float(capacity)  # Python compares it with 10**400 exactly, NumPy overflows
        self._rate = float(refill_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(capacity)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:  # NaN too
            raise ValueError("tokens must be positive")
        if tokens > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= float(tokens)
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens
