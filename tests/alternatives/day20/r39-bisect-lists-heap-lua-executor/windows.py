"""Task 1 (style: sorted per-card lists + bisect + one global heap)."""
from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping

_KEYS = ("card_id", "amount", "merchant", "ts")


def _finite(x, name):
    try:
        v = float(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a number") from e
    if isinstance(x, str) or not math.isfinite(v):
        raise ValueError(f"{name} must be finite")
    return x


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if window_s != window_s or allowed_lateness_s != allowed_lateness_s:
            raise ValueError("NaN")
        if window_s <= 0 or allowed_lateness_s < 0:
            raise ValueError("out of range")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict = {}  # card -> (times, amounts, merchants)
        self._heap: list = []
        self._seq = 0

    def process(self, event: Mapping) -> dict | None:
        for k in _KEYS:
            if k not in event:
                raise KeyError(k)
        card = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        _finite(amount, "amount")
        _finite(ts, "ts")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        i = bisect.bisect_right(times, ts)
        times.insert(i, ts)
        amounts.insert(i, amount)
        merchants.insert(i, merchant)
        self._seq += 1
        heapq.heappush(self._heap, (ts, self._seq, card))
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = i + 1
        win_a = amounts[lo:hi]
        result = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in win_a),
            "max_amount": max(win_a),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        cutoff = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= cutoff:
            _, _, c = heapq.heappop(self._heap)
            t, a, m = self._cards[c]
            del t[0], a[0], m[0]
            if not t:
                del self._cards[c]
        return result

    def state_size(self) -> int:
        return len(self._heap)
