"""Task 1: event-time sliding windows (sorted per-card lists + a global heap)."""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Mapping

KEYS = ("card_id", "amount", "merchant", "ts")


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s!r}")
        if not allowed_lateness_s >= 0:
            raise ValueError(f"allowed_lateness_s must be >= 0, got {allowed_lateness_s!r}")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict[str, tuple[list, list, list]] = {}
        self._heap: list = []
        self._held = 0
        self._seq = itertools.count()

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = (event[k] for k in KEYS)
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, value in (("amount", amount), ("ts", ts)):
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        heapq.heappush(self._heap, (ts, next(self._seq), card))
        self._held += 1
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = pos + 1
        features = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in amounts[lo:hi]),
            "max_amount": max(amounts[lo:hi]),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, old = heapq.heappop(self._heap)
            t, a, m = self._cards[old]
            del t[0], a[0], m[0]
            self._held -= 1
            if not t:
                del self._cards[old]
        return features

    def state_size(self) -> int:
        return self._held
