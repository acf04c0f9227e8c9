"""Token bucket: state is (tokens, stamp); every public call goes through one locked _settle()."""

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
        if not capacity > 0:
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must be >= 0")
        self._cap = float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._mutex = threading.RLock()
        self._state = (self._cap, clock())

    def _settle(self, want: float | None) -> tuple[bool, float]:
        """Refill to now, then (if want is given) try to take `want`. Caller holds the lock."""
        tokens, stamp = self._state
        now = self._clock()
        if now > stamp:
            gained = (now - stamp) * self._rate
            tokens = tokens + gained if tokens + gained < self._cap else self._cap
            stamp = now
        granted = False
        if want is not None and want <= tokens:
            tokens -= float(want)
            granted = True
        self._state = (tokens, stamp)
        return granted, tokens

    def consume(self, tokens: float = 1) -> bool:
        if not tokens > 0:
            raise ValueError("tokens must be > 0")
        if tokens > self._cap:
            return False
        with self._mutex:
            granted, _ = self._settle(tokens)
        return granted

    def get_available_tokens(self) -> float:
        with self._mutex:
            return self._settle(None)[1]
