"""Task 1: one global time-ordered list of held events, scanned per event (no per-card state)."""
from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or math.isnan(allowed_lateness_s):
            raise ValueError("NaN setting")
        if window_s <= 0 or allowed_lateness_s < 0:
            raise ValueError("window_s must be > 0 and allowed_lateness_s >= 0")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest = -math.inf
        self._seen_any = False
        self._times: list = []      # sorted (ts, seq)
        self._events: list = []     # parallel: (card, amount, merchant)
        self._seq = itertools.count()

    @staticmethod
    def _take(event: Mapping):
        card = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, value in (("amount", amount), ("ts", ts)):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"{name} must be finite")
        return card, amount, merchant, ts

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = self._take(event)
        if self._seen_any and ts < self._newest - self._lateness:
            self.late_events += 1
            return None
        entry = (ts, next(self._seq))
        pos = bisect.bisect_right(self._times, entry)
        self._times.insert(pos, entry)
        self._events.insert(pos, (card, amount, merchant))
        self._seen_any = True
        if ts > self._newest:
            self._newest = ts
        start = bisect.bisect_right(self._times, (ts - self._window, math.inf))
        count, total, largest, merchants = 0, 0, None, set()
        for i in range(start, pos + 1):
            c, a, m = self._events[i]
            if c == card:
                count += 1
                total += float(a)
                largest = a if largest is None or a > largest else largest
                merchants.add(m)
        horizon = self._newest - self._lateness - self._window
        cut = bisect.bisect_right(self._times, (horizon, math.inf))
        if cut:
            del self._times[:cut]
            del self._events[:cut]
        return dict(count=count, total_amount=total, max_amount=largest, distinct_merchants=len(merchants))

    def state_size(self) -> int:
        return len(self._times)
