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
    """Keeps (tokens, stamp): the count at the time of the last successful take. The count now
    is computed from them; only a successful consume writes the state."""

    def __init__(
        self,
        capacity: float,
        refill_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not capacity > 0:
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must be >= 0")
        self.capacity = float(capacity)
        self.refill_rate = refill_rate
        self.clock = clock
        self._guard = threading.RLock()
        self._state = (capacity, clock())

    def _available(self, now: float) -> float:
        tokens, stamp = self._state
        return min(self.capacity, tokens + max(0.0, now - stamp) * self.refill_rate)

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:
            raise ValueError("tokens must be > 0")
        with self._guard:
            if tokens > self.capacity:
                return False
            now = self.clock()
            available = self._available(now)
            if tokens <= available:
                self._state = (available - tokens, now)
                return True
            return False

    def get_available_tokens(self) -> float:
        with self._guard:
            return self._available(self.clock())
