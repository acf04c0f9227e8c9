from __future__ import annotations

import threading
import time
from collections.abc import Callable


def _is_nan(x) -> bool:
    return x != x


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if _is_nan(capacity) or capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity!r}")
        if _is_nan(refill_rate) or refill_rate < 0:
            raise ValueError(f"refill_rate must be >= 0, got {refill_rate!r}")
        self._capacity = capacity if isinstance(capacity, int) else float(capacity)
        self._rate = float(refill_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self._capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0 and self._rate > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._last = max(self._last, now)  # a clock stepping back leaves the stamp: 5 -> 10 again was counted

    def consume(self, tokens: float = 1) -> bool:
        if _is_nan(tokens) or tokens <= 0:
            raise ValueError(f"tokens must be > 0, got {tokens!r}")
        if not isinstance(tokens, int):
            tokens = float(tokens)
        if tokens > self._capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            return True

    def get_available_tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens
