"""Task 1: event-time sliding-window features (bisect + heap)."""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping

KEYS = ("card_id", "amount", "merchant", "ts")


def _check_setting(name, value):
    try:
        bad = math.isnan(value)
    except TypeError:
        raise ValueError(f"{name} must be a number") from None
    if bad:
        raise ValueError(f"{name} is NaN")


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        _check_setting("window_s", window_s)
        _check_setting("allowed_lateness_s", allowed_lateness_s)
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._cards: dict[str, tuple[list, list, list]] = {}
        self._heap: list = []
        self._seq = itertools.count()
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        for key in KEYS:
            if key not in event:
                raise KeyError(key)
        card, amount, merchant, ts = (event[k] for k in KEYS)
        if not isinstance(card, str):
            raise ValueError(f"card_id must be a str, got {card!r}")
        for name, value in (("amount", amount), ("ts", ts)):
            try:
                finite = math.isfinite(value)
            except TypeError:
                raise ValueError(f"{name} must be a number") from None
            if not finite:
                raise ValueError(f"{name} must be finite, got {value!r}")
        amount = float(amount)
        ts = float(ts)
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        pos = bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        heapq.heappush(self._heap, (ts, next(self._seq), card))
        self._held += 1
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        start = bisect_right(times, ts - self.window_s)
        end = pos + 1
        window_amounts = amounts[start:end]
        features = {
            "count": end - start,
            "total_amount": sum(window_amounts),
            "max_amount": max(window_amounts),
            "distinct_merchants": len(set(merchants[start:end])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        heap = self._heap
        while heap and heap[0][0] <= horizon:
            _, _, old_card = heapq.heappop(heap)
            lists = self._cards[old_card]
            for lst in lists:
                del lst[0]
            self._held -= 1
            if not lists[0]:
                del self._cards[old_card]
        return features

    def state_size(self) -> int:
        return self._held
