"""Token bucket: state is (tokens, stamp); readers compute the count without writing it."""

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
        if capacity != capacity or capacity <= 0:
            raise ValueError("capacity must be a positive number")
        if refill_rate != refill_rate or refill_rate < 0:
            raise ValueError("refill_rate must be a non-negative number")
        self.capacity = float(capacity)
        self.refill_rate = refill_rate
        self.clock = clock
        self._mutex = threading.RLock()
        self._state = (capacity, clock())  # tokens held at the stamp, clock reading

    def _tokens_now(self):
        tokens, stamp = self._state
        now = self.clock()
        if now <= stamp:
            return tokens, stamp
        return min(self.capacity, tokens + (now - stamp) * self.refill_rate), now

    def consume(self, tokens: float = 1) -> bool:
        if tokens != tokens or tokens <= 0:
            raise ValueError("a request must be for a positive number of tokens")
        if tokens > self.capacity:
            return False
        self._mutex.acquire()
        try:
            held, now = self._tokens_now()
            if held >= tokens:
                self._state = (held - tokens, now)
                return True
            return False
        finally:
            self._mutex.release()

    def get_available_tokens(self) -> float:
        self._mutex.acquire()
        try:
            return self._tokens_now()[0]
        finally:
            self._mutex.release()
