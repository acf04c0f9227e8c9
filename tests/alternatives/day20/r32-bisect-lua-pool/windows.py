"""Task 1, style A: per-card sorted parallel lists with bisect, one global heap for eviction."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping

KEYS = ("card_id", "amount", "merchant", "ts")


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0 or not allowed_lateness_s >= 0:
            raise ValueError("window_s must be > 0 and allowed_lateness_s >= 0 (not NaN)")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict[str, tuple[list, list, list]] = {}  # times, amounts, merchants
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        for key in KEYS:
            if key not in event:
                raise KeyError(key)
        card, amount, merchant, ts = (event[k] for k in KEYS)
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount) or not math.isfinite(ts):
            raise ValueError("amount and ts must be finite")
        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        self._held += 1
        heapq.heappush(self._heap, (ts, self._seq, card))
        self._seq += 1
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = pos + 1
        # events at exactly ts inserted after pos are also in the window
        hi = bisect.bisect_right(times, ts)
        window_amounts = amounts[lo:hi]
        result = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in window_amounts),
            "max_amount": max(window_amounts),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, old_card = heapq.heappop(self._heap)
            t, a, m = self._cards[old_card]
            del t[0], a[0], m[0]
            self._held -= 1
            if not t:
                del self._cards[old_card]
        return result

    def state_size(self) -> int:
        return self._held
