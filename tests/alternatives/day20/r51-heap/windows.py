"""Task 1: event-time sliding-window features (bisect + heap)."""

from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping


def _setting(value, name):
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(value)
    except (OverflowError, TypeError) as e:
        raise ValueError(f"{name} out of range") from e
    if math.isnan(f):
        raise ValueError(f"{name} is NaN")
    return value


def _finite(value, name):
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(value)
    except (OverflowError, TypeError) as e:
        raise ValueError(f"{name} is not finite") from e
    if not math.isfinite(f):
        raise ValueError(f"{name} is not finite")
    return f


class _Card:
    __slots__ = ("times", "amounts", "merchants")

    def __init__(self):
        self.times: list[float] = []
        self.amounts: list[float] = []
        self.merchants: list = []


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        _setting(window_s, "window_s")
        _setting(allowed_lateness_s, "allowed_lateness_s")
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict[str, _Card] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        card_id = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        amount = _finite(amount, "amount")
        ts = _finite(ts, "ts")

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
            old = self._cards[cid]
            del old.times[0], old.amounts[0], old.merchants[0]
            self._held -= 1
            if not old.times:
                del self._cards[cid]
        return features

    def state_size(self) -> int:
        return self._held
