"""Task 1: event-time sliding-window features (bisect per card + global heap)."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping


def _finite(value, name: str) -> None:
    try:
        ok = math.isfinite(value)
    except TypeError:
        raise ValueError(f"{name} must be a number") from None
    if not ok:
        raise ValueError(f"{name} must be finite")


class _Card:
    __slots__ = ("times", "amounts", "merchants")

    def __init__(self) -> None:
        self.times: list = []
        self.amounts: list = []
        self.merchants: list = []


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or math.isnan(allowed_lateness_s):
            raise ValueError("NaN setting")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict[str, _Card] = {}
        self._heap: list = []
        self._seq = 0
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        card_id = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        _finite(amount, "amount")
        _finite(ts, "ts")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        card = self._cards.get(card_id)
        if card is None:
            card = self._cards[card_id] = _Card()
        pos = bisect.bisect_right(card.times, ts)
        card.times.insert(pos, ts)
        card.amounts.insert(pos, amount)
        card.merchants.insert(pos, merchant)
        self._held += 1
        heapq.heappush(self._heap, (ts, self._seq, card_id))
        self._seq += 1
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(card.times, ts - self.window_s)
        hi = pos + 1
        amounts = card.amounts[lo:hi]
        total = 0.0
        for a in amounts:
            total += float(a)
        features = {
            "count": hi - lo,
            "total_amount": total,
            "max_amount": max(amounts),
            "distinct_merchants": len(set(card.merchants[lo:hi])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, cid = heapq.heappop(self._heap)
            c = self._cards[cid]
            del c.times[0], c.amounts[0], c.merchants[0]
            self._held -= 1
            if not c.times:
                del self._cards[cid]
        return features

    def state_size(self) -> int:
        return self._held
