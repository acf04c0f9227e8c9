from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping


def _num(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite")
    return value


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        for name, v in (("window_s", window_s), ("allowed_lateness_s", allowed_lateness_s)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(float(v)):
                raise ValueError(name)
        if window_s <= 0 or allowed_lateness_s < 0:
            raise ValueError("bad settings")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = None
        self._cards: dict[str, tuple[list, list, list]] = {}
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
        if not isinstance(merchant, str):
            raise ValueError("merchant must be a str")
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        self._held += 1
        heapq.heappush(self._heap, (ts, card))
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = bisect.bisect_right(times, ts)
        win_a = amounts[lo:hi]
        result = {
            "count": hi - lo,
            "total_amount": sum(float(a) for a in win_a),
            "max_amount": max(win_a),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, c = heapq.heappop(self._heap)
            t, a, m = self._cards[c]
            del t[0], a[0], m[0]
            self._held -= 1
            if not t:
                del self._cards[c]
        return result

    def state_size(self) -> int:
        return self._held
