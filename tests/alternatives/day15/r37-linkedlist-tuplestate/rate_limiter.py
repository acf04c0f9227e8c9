from __future__ import annotations

import threading
import time
from collections.abc import Callable
from numbers import Real


def _plain(x):
    """A NumPy scalar as the Python number it holds; Python numbers unchanged."""
    if type(x) in (int, float):
        return x
    item = getattr(x, "item", None)
    return item() if item is not None else float(x)


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        capacity, refill_rate = _plain(capacity), _plain(refill_rate)
        if not capacity > 0:
            raise ValueError("capacity must be positive")
        if not refill_rate >= 0:
            raise ValueError("refill_rate must not be negative")
        self.capacity = capacity
        self.refill_rate = refill_rate
        self.clock = clock
        self.lock = threading.RLock()
        self.state = (capacity, clock())  # (tokens, clock reading they were counted at)

    def _current(self):
        tokens, then = self.state
        now = self.clock()
        gained = (now - then) * self.refill_rate if now > then else 0.0
        if gained:
            tokens = min(self.capacity, tokens + gained) if tokens + gained < self.capacity else self.capacity
        return tokens, max(now, then)  # a clock stepping back leaves the stamp: 5 -> 10 again was counted

    def consume(self, tokens: float = 1) -> bool:
        tokens = _plain(tokens)
        if not tokens > 0:
            raise ValueError("tokens must be positive")
        if tokens > self.capacity:
            return False
        with self.lock:
            have, now = self._current()
            if have >= tokens:
                self.state = (have - tokens, now)
                return True
            self.state = (have, now)
            return False

    def get_available_tokens(self) -> float:
        with self.lock:
            self.state = self._current()
            return self.state[0]
