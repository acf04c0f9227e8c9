"""Sliding-window features: per-card sorted lists plus one global heap for eviction."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping


def _real(value) -> bool:
    try:
        return math.isfinite(value)
    except TypeError:
        return False


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
        # card -> (times, amounts, merchants), parallel lists sorted by time
        self._cards: dict[str, tuple[list, list, list]] = {}
        self._heap: list[tuple[float, str]] = []
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if not _real(amount):
            raise ValueError(f"amount must be a finite number, got {amount!r}")
        if not _real(ts):
            raise ValueError(f"ts must be a finite number, got {ts!r}")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        at = bisect.bisect_right(times, ts)
        times.insert(at, ts)
        amounts.insert(at, amount)
        merchants.insert(at, merchant)
        heapq.heappush(self._heap, (ts, card))
        self._held += 1
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = at + 1
        in_window = amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in in_window),
            "max_amount": max(in_window),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        self._evict()
        return features

    def _evict(self) -> None:
        horizon = self._max_ts - self.allowed_lateness_s - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, card = heapq.heappop(self._heap)
            times, amounts, merchants = self._cards[card]
            del times[0], amounts[0], merchants[0]
            self._held -= 1
            if not times:
                del self._cards[card]

    def state_size(self) -> int:
        return self._held
