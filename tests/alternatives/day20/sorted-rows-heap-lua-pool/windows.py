"""Task 1: event-time sliding-window features, kept sorted per card with one global heap."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping

KEYS = ("card_id", "amount", "merchant", "ts")


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._times: dict[str, list[float]] = {}
        self._rows: dict[str, list[tuple[float, float]]] = {}   # parallel: (amount, merchant)
        self._heap: list[tuple[float, str]] = []

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
        times = self._times.setdefault(card, [])
        rows = self._rows.setdefault(card, [])
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        rows.insert(pos, (amount, merchant))
        heapq.heappush(self._heap, (ts, card))
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)
        lo = bisect.bisect_right(times, ts - self.window_s)
        window = rows[lo:pos + 1]
        features = {
            "count": len(window),
            "total_amount": sum(float(a) for a, _ in window),
            "max_amount": max(a for a, _ in window),
            "distinct_merchants": len({m for _, m in window}),
        }
        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, old = heapq.heappop(self._heap)
            del self._times[old][0]
            del self._rows[old][0]
            if not self._times[old]:
                del self._times[old]
                del self._rows[old]
        return features

    def state_size(self) -> int:
        return len(self._heap)
