"""Token bucket: state in a small dict, a Condition as the lock, readings never move backwards."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


def _is_nan(x) -> bool:
    return x != x


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if _is_nan(capacity) or capacity <= 0:
            raise ValueError("capacity must be a number > 0")
        if _is_nan(refill_rate) or refill_rate < 0:
            raise ValueError("refill_rate must be a number >= 0")
        self.capacity = float(capacity)  # Python's: compares with 10**400 exactly
        self.refill_rate = float(refill_rate)
        self.clock = clock
        self._guard = threading.Condition(threading.RLock())
        self._state = {"tokens": float(capacity), "stamp": clock()}

    def _current(self) -> float:
        state = self._state
        now = self.clock()
        stamp = state["stamp"]
        if now <= stamp:
            return state["tokens"]
        gained = (now - stamp) * self.refill_rate
        state["tokens"] = min(self.capacity, state["tokens"] + gained)
        state["stamp"] = now
        return state["tokens"]

    def consume(self, tokens: float = 1) -> bool:
        if _is_nan(tokens) or tokens <= 0:
            raise ValueError("tokens must be > 0")
        with self._guard:
            available = self._current()
            if tokens > self.capacity or available < tokens:
                return False
            self._state["tokens"] = available - float(tokens)
        return True

    def get_available_tokens(self) -> float:
        with self._guard:
            return self._current()
