"""Task 1 (style A): per-card sorted parallel lists with bisect, one global heap for eviction."""

from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping

_KEYS = ("card_id", "amount", "merchant", "ts")


def _finite(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


class _Card:
    __slots__ = ("times", "amounts", "merchants")

    def __init__(self):
        self.times: list = []
        self.amounts: list = []
        self.merchants: list = []


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        for name, v in (("window_s", window_s), ("allowed_lateness_s", allowed_lateness_s)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
                raise ValueError(f"{name} must be a number, got {v!r}")
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict[str, _Card] = {}
        self._heap: list = []   # (ts, seq, card_id)
        self._seq = 0
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        for key in _KEYS:
            if key not in event:
                raise KeyError(key)
        card_id = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, got {card_id!r}")
        _finite(amount, "amount")
        _finite(ts, "ts")
        if isinstance(amount, numbers.Integral):
            amount = int(amount)
        else:
            amount = float(amount)
        if isinstance(ts, numbers.Integral):
            ts = int(ts)
        else:
            ts = float(ts)

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
        heapq.heappush(self._heap, (ts, self._seq, card_id))
        self._seq += 1
        self._held += 1
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts

        lo = bisect.bisect_right(card.times, ts - self.window_s)
        hi = pos + 1
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
            self._held -= 1
            if not c.times:
                del self._cards[cid]
        return features

    def state_size(self) -> int:
        return self._held
