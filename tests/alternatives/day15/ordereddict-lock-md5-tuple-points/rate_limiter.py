import threading
import time


class TokenBucketRateLimiter:
    def __init__(self, capacity, refill_rate, clock=time.monotonic):
        if not capacity > 0:  # NaN too
            raise ValueError("capacity must be > 0")
        if not refill_rate >= 0:  # NaN too
            raise ValueError("refill_rate must be >= 0")
        self.capacity = float(capacity)
        self.refill_rate = float(refill_rate)
        self._clock = clock
        self._tokens = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self):
        now = self._clock()
        if now <= self._last:  # a clock stepping back: nothing gained, nothing lost, nothing counted twice
            return
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.refill_rate)
        self._last = now

    def consume(self, tokens=1):
        if not tokens > 0:  # NaN too
            raise ValueError("tokens must be > 0")
        if tokens > self.capacity:
            return False
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= float(tokens)
            return True

    def get_available_tokens(self):
        with self._lock:
            self._refill()
            return self._tokens
