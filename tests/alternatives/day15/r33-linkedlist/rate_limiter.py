from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucketRateLimiter:
    def __init__(self, capacity: float, refill_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if math.isnan(capacity) or capacity <= 0:
            raise ValueError("capacity must be a positive number")
        if math.isnan(refill_rate) or refill_rate < 0:
            raise ValueError("refill_rate must be non-negative")
        self.capacity = float(capacity)
        self.rate = float(refill_rate)
        self.clock = clock
        self.mutex = threading.RLock()
        self.state = {"tokens": self.capacity, "stamp": clock()}

    def _current(self) -> float:
        # caller holds the mutex
        now = self.clock()
        gained = (now - self.state["stamp"]) * self.rate
        if now > self.state["stamp"]:
            self.state["stamp"] = now
            self.state["tokens"] = min(self.capacity, self.state["tokens"] + gained)
        return self.state["tokens"]

    def consume(self, tokens: float = 1) -> bool:
        if tokens != tokens or tokens <= 0:
            raise ValueError("tokens must be positive")
        if tokens > self.capacity:
            return False
        self.mutex.acquire()
        try:
            have = self._current()
            if tokens <= have:
                self.state["tokens"] = have - float(tokens)
                return True
            return False
        finally:
            self.mutex.release()

    def get_available_tokens(self) -> float:
        self.mutex.acquire()
        try:
            return self._current()
        finally:
            self.mutex.release()
