"""Task 1: event-time sliding-window features (sorted lists + heap)."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict[str, tuple[list, list, list]] = {}
        self._heap: list = []

    def process(self, event: Mapping) -> dict | None:
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount) or not math.isfinite(ts):
            raise ValueError("amount and ts must be finite")
        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        i = bisect.bisect_right(times, ts)
        times.insert(i, ts)
        amounts.insert(i, amount)
        merchants.insert(i, merchant)
        heapq.heappush(self._heap, (ts, card))
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = i + 1
        sel_a = amounts[lo:hi]
        out = {"count": hi - lo, "total_amount": sum(float(a) for a in sel_a), "max_amount": max(sel_a),
               "distinct_merchants": len(set(merchants[lo:hi]))}
        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, c = heapq.heappop(self._heap)
            t, a, m = self._cards[c]
            del t[0], a[0], m[0]
            if not t:
                del self._cards[c]
        return out

    def state_size(self) -> int:
        return len(self._heap)
