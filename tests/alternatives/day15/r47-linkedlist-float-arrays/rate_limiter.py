"""Task 2: token bucket with a plain-float count, refill folded into a locked helper."""

from __future__ import annotations

import numbers
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
        capacity = self._python_number(capacity)
        refill_rate = self._python_number(refill_rate)
        if capacity != capacity or capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity!r}")
        if refill_rate != refill_rate or refill_rate < 0:
            raise ValueError(f"refill_rate must be >= 0, got {refill_rate!r}")
        self.capacity = float(capacity)
        self.refill_rate = float(refill_rate)
        self._clock = clock
        self._mutex = threading.Lock()
        self._available = self.capacity
        self._stamp = clock()

    @staticmethod
    def _python_number(x):
        return int(x) if isinstance(x, numbers.Integral) else float(x)

    def _tokens_now(self) -> float:
        """Refill for the time since the last look; the caller holds the mutex."""
        now = self._clock()
        elapsed = now - self._stamp
        if elapsed > 0:
            self._available = min(self.capacity, self._available + elapsed * self.refill_rate)
            self._stamp = now
        return self._available

    def consume(self, tokens: float = 1) -> bool:
        tokens = self._python_number(tokens)
        if tokens != tokens or tokens <= 0:
            raise ValueError(f"tokens must be a positive number, got {tokens!r}")
        if tokens > self.capacity:
            return False
        with self._mutex:
            if self._tokens_now() >= tokens:
                self._available -= tokens
                return True
            return False

    def get_available_tokens(self) -> float:
        with self._mutex:
            return self._tokens_now()
