"""Task 1: per-card event lists scanned for each window; a SortedList orders eviction."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from sortedcontainers import SortedList


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be > 0")
        if math.isnan(allowed_lateness_s) or allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s, self.allowed_lateness_s = window_s, allowed_lateness_s
        self.late_events = 0
        self.watermark = -math.inf
        self.cards: dict[str, dict[int, tuple]] = {}
        self.order = SortedList()   # (ts, seq, card)
        self.seq = itertools.count()

    def _validated(self, event: Mapping) -> tuple:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card, amount, ts = event["card_id"], event["amount"], event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, value in (("amount", amount), ("ts", ts)):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"{name} must be finite")
        return card, amount, event["merchant"], ts

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = self._validated(event)
        if ts < self.watermark:
            self.late_events += 1
            return None
        n = next(self.seq)
        self.cards.setdefault(card, {})[n] = (ts, amount, merchant)
        self.order.add((ts, n, card))
        self.watermark = max(self.watermark, ts - self.allowed_lateness_s)
        inside = [(a, m) for t, a, m in self.cards[card].values() if ts - self.window_s < t <= ts]
        result = dict(count=len(inside), total_amount=sum(float(a) for a, _ in inside),
                      max_amount=max(a for a, _ in inside), distinct_merchants=len(set(m for _, m in inside)))
        horizon = self.watermark - self.window_s
        while self.order and self.order[0][0] <= horizon:
            _, old_n, old_card = self.order.pop(0)
            held = self.cards[old_card]
            del held[old_n]
            if not held:
                del self.cards[old_card]
        return result

    def state_size(self) -> int:
        return len(self.order)
