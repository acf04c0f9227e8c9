"""Sliding-window features: sorted per-card lists plus a global heap for eviction."""
from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict[str, tuple[list, list]] = {}  # card -> (times, (amount, merchant))
        self._heap: list[tuple[float, str]] = []

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
        times, rest = self._cards.setdefault(card, ([], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        rest.insert(pos, (amount, merchant))
        heapq.heappush(self._heap, (ts, card))
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = bisect.bisect_right(times, ts)
        window = rest[lo:hi]
        result = {"count": len(window), "total_amount": sum(float(a) for a, _ in window),
                  "max_amount": max(a for a, _ in window),
                  "distinct_merchants": len({m for _, m in window})}
        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, old = heapq.heappop(self._heap)
            t, r = self._cards[old]
            del t[0]
            del r[0]
            if not t:
                del self._cards[old]
        return result

    def state_size(self) -> int:
        return len(self._heap)
