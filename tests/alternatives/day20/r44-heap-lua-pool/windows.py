"""Task 1: event-time sliding-window features (bisect + heap)."""
from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping
from numbers import Real

import numpy as np

_KEYS = ("card_id", "amount", "merchant", "ts")


def _finite(name, value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            value = float(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} must be a number") from e
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite")
    return value


class _Card:
    __slots__ = ("times", "amounts", "merchants")

    def __init__(self):
        self.times, self.amounts, self.merchants = [], [], []


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if isinstance(window_s, bool) or not isinstance(window_s, Real) or math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be > 0")
        if (isinstance(allowed_lateness_s, bool) or not isinstance(allowed_lateness_s, Real)
                or math.isnan(allowed_lateness_s) or allowed_lateness_s < 0):
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict[str, _Card] = {}
        self._heap: list = []
        self._seq = 0

    def process(self, event: Mapping) -> dict | None:
        for key in _KEYS:
            if key not in event:
                raise KeyError(key)
        card_id = event["card_id"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        amount = _finite("amount", event["amount"])
        ts = _finite("ts", event["ts"])
        merchant = event["merchant"]
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
        self._seq += 1
        heapq.heappush(self._heap, (ts, self._seq, card_id))
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(card.times, ts - self.window_s)
        hi = pos + 1
        # events with equal ts inserted after: bisect_right put us after equal ones, so hi covers all <= ts
        amounts = card.amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": sum(amounts),
            "max_amount": max(amounts),
            "distinct_merchants": len(set(card.merchants[lo:hi])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, cid = heapq.heappop(self._heap)
            c = self._cards[cid]
            del c.times[0], c.amounts[0], c.merchants[0]
            if not c.times:
                del self._cards[cid]
        return features

    def state_size(self) -> int:
        return len(self._heap)
