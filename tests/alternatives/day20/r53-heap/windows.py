from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r}")
    value = float(value) if not isinstance(value, (int, float)) else value
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        for name, v in (("window_s", window_s), ("allowed_lateness_s", allowed_lateness_s)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
                raise ValueError(f"{name} must be a number")
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict[str, tuple[list, list, list]] = {}  # times, amounts, merchants
        self._heap: list = []
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError(f"card_id must be a str, got {card!r}")
        amount = _number(event["amount"], "amount")
        ts = _number(event["ts"], "ts")
        merchant = event["merchant"]
        if not isinstance(merchant, str):
            raise ValueError(f"merchant must be a str, got {merchant!r}")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        heapq.heappush(self._heap, (ts, card))
        self._held += 1
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = pos + 1
        while hi < len(times) and times[hi] == ts:
            hi += 1
        window_amounts = amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": sum(window_amounts),
            "max_amount": max(window_amounts),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, old_card = heapq.heappop(self._heap)
            t, a, m = self._cards[old_card]
            del t[0], a[0], m[0]
            self._held -= 1
            if not t:
                del self._cards[old_card]
        return features

    def state_size(self) -> int:
        return self._held
