"""Task 1: event-time sliding-window features (per-card sorted lists + a global heap)."""

from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping


def _finite(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


class _Card:
    __slots__ = ("times", "amounts", "merchants")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.amounts: list[float] = []
        self.merchants: list[str] = []


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
        self._cards: dict[str, _Card] = {}
        self._heap: list[tuple[float, str]] = []

    def process(self, event: Mapping) -> dict | None:
        card_id = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        amount = _finite(amount, "amount")
        ts = _finite(ts, "ts")

        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None

        card = self._cards.get(card_id)
        if card is None:
            card = self._cards[card_id] = _Card()
        pos = bisect.bisect_right(card.times, ts)
        card.times.insert(pos, ts)
        card.amounts.insert(pos, amount)
        card.merchants.insert(pos, merchant)
        heapq.heappush(self._heap, (ts, card_id))
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)

        lo = bisect.bisect_right(card.times, ts - self.window_s)
        hi = pos + 1
        amounts = card.amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": sum(amounts),
            "max_amount": max(amounts),
            "distinct_merchants": len(set(card.merchants[lo:hi])),
        }

        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, old_card = heapq.heappop(self._heap)
            held = self._cards[old_card]
            del held.times[0], held.amounts[0], held.merchants[0]
            if not held.times:
                del self._cards[old_card]
        return features

    def state_size(self) -> int:
        return len(self._heap)
