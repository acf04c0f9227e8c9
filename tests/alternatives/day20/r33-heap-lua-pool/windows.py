from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping


def _num(x, name):
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite")
    return x


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or math.isnan(allowed_lateness_s):
            raise ValueError("NaN setting")
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict = {}  # card -> (times, amounts, merchants)
        self._heap: list = []
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        amount = _num(event["amount"], "amount")
        ts = _num(event["ts"], "ts")
        merchant = event["merchant"]
        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        i = bisect.bisect_right(times, ts)
        times.insert(i, ts)
        amounts.insert(i, amount)
        merchants.insert(i, merchant)
        heapq.heappush(self._heap, (ts, id(times), card))
        self._held += 1
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = i + 1
        amts = amounts[lo:hi]
        result = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in amts),
            "max_amount": max(amts),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        horizon = (self._max_ts - self.lateness) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, c = heapq.heappop(self._heap)
            t, a, m = self._cards[c]
            del t[0], a[0], m[0]
            self._held -= 1
            if not t:
                del self._cards[c]
        return result

    def state_size(self) -> int:
        return self._held
