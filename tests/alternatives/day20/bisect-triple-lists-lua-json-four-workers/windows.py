"""Task 1: event-time sliding-window features (bisect per card + one heap for eviction)."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:  # NaN too
            raise ValueError("window_s must be positive")
        if not allowed_lateness_s >= 0:  # NaN too
            raise ValueError("allowed_lateness_s must not be negative")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        # card -> (times, amounts, merchants), parallel lists sorted by time
        self._cards: dict[str, tuple[list, list, list]] = {}
        self._heap: list[tuple[float, str]] = []

    def process(self, event: Mapping) -> dict | None:
        card_id = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError(f"amount {amount!r} is not finite")
        if not math.isfinite(ts):
            raise ValueError(f"ts {ts!r} is not finite")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card_id, ([], [], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        heapq.heappush(self._heap, (ts, card_id))
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = pos + 1
        window_amounts = amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in window_amounts),
            "max_amount": max(window_amounts),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        self._evict()
        return features

    def _evict(self) -> None:
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, card_id = heapq.heappop(self._heap)
            times, amounts, merchants = self._cards[card_id]
            del times[0], amounts[0], merchants[0]
            if not times:
                del self._cards[card_id]

    def state_size(self) -> int:
        return len(self._heap)
