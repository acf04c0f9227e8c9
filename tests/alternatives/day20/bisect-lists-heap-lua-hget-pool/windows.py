"""Task 1: event-time sliding-window features (sorted parallel lists per card, one global heap)."""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if not allowed_lateness_s >= 0:
            raise ValueError(f"allowed_lateness_s must be >= 0, got {allowed_lateness_s!r}")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict = {}
        self._heap: list = []
        self._seq = itertools.count()
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError(f"amount {amount!r} is not finite")
        if not math.isfinite(ts):
            raise ValueError(f"ts {ts!r} is not finite")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        i = bisect.bisect_right(times, ts)
        times.insert(i, ts)
        amounts.insert(i, amount)
        merchants.insert(i, merchant)
        heapq.heappush(self._heap, (ts, next(self._seq), card))
        self._held += 1
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)
        lo = bisect.bisect_right(times, ts - self.window_s)
        in_window = slice(lo, i + 1)
        features = {
            "count": i + 1 - lo,
            "total_amount": sum(float(a) for a in amounts[in_window]),
            "max_amount": max(amounts[in_window]),
            "distinct_merchants": len(set(merchants[in_window])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
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
