"""Task 1: event-time sliding-window features, per-card sorted lists and one global heap."""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Mapping

KEYS = ("card_id", "amount", "merchant", "ts")


class _Card:
    __slots__ = ("times", "amounts", "merchants")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.amounts: list[float] = []
        self.merchants: list[str] = []


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if not allowed_lateness_s >= 0:
            raise ValueError(f"allowed_lateness_s must be >= 0, got {allowed_lateness_s!r}")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict[str, _Card] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    def process(self, event: Mapping) -> dict | None:
        for key in KEYS:
            if key not in event:
                raise KeyError(key)
        card_id, amount, merchant, ts = (event[k] for k in KEYS)
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError(f"amount must be finite, got {amount!r}")
        if not math.isfinite(ts):
            raise ValueError(f"ts must be finite, got {ts!r}")

        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None

        card = self._cards.get(card_id)
        if card is None:
            card = self._cards[card_id] = _Card()
        at = bisect.bisect_right(card.times, ts)
        card.times.insert(at, ts)
        card.amounts.insert(at, amount)
        card.merchants.insert(at, merchant)
        heapq.heappush(self._heap, (ts, next(self._seq), card_id))
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)

        lo = bisect.bisect_right(card.times, ts - self.window_s)
        hi = bisect.bisect_right(card.times, ts)
        amounts = card.amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in amounts),
            "max_amount": max(amounts),
            "distinct_merchants": len(set(card.merchants[lo:hi])),
        }
        self._evict()
        return features

    def _evict(self) -> None:
        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, card_id = heapq.heappop(self._heap)
            card = self._cards[card_id]
            del card.times[0], card.amounts[0], card.merchants[0]
            if not card.times:
                del self._cards[card_id]

    def state_size(self) -> int:
        return len(self._heap)
