"""Task 1: event-time window features (sorted tuples per card, a deque-like global order list)."""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Mapping
from itertools import count as counter


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not isinstance(window_s, (int, float)) and not hasattr(window_s, "__float__"):
            raise ValueError("window_s must be a number")
        if window_s != window_s or allowed_lateness_s != allowed_lateness_s:
            raise ValueError("NaN setting")
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self.watermark = None
        self.by_card: dict = {}       # card -> sorted list of (ts, seq, amount, merchant)
        self.order: list = []         # sorted list of (ts, seq, card), every held event
        self._seq = counter()

    @staticmethod
    def _validate(event: Mapping):
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card_id = event["card_id"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        amount, ts = float(event["amount"]), float(event["ts"])
        if math.isnan(amount) or math.isinf(amount) or math.isnan(ts) or math.isinf(ts):
            raise ValueError("amount and ts must be finite")
        return card_id, amount, event["merchant"], ts

    def process(self, event: Mapping) -> dict | None:
        card_id, amount, merchant, ts = self._validate(event)
        if self.watermark is not None and ts < self.watermark:
            self.late_events += 1
            return None
        seq = next(self._seq)
        rows = self.by_card.get(card_id)
        if rows is None:
            rows = self.by_card[card_id] = []
        insort(rows, (ts, seq, amount, merchant))
        insort(self.order, (ts, seq, card_id))
        new_mark = ts - self.lateness
        if self.watermark is None or new_mark > self.watermark:
            self.watermark = new_mark

        lo = ts - self.window_s
        n, total, top, merchants = 0, 0.0, None, set()
        for t, _, a, m in rows:
            if t > ts:
                break
            if t > lo:
                n += 1
                total += a
                top = a if top is None or a > top else top
                merchants.add(m)
        result = {"count": n, "total_amount": total, "max_amount": top, "distinct_merchants": len(merchants)}

        horizon = self.watermark - self.window_s
        drop = 0
        while drop < len(self.order) and self.order[drop][0] <= horizon:
            _, _, card = self.order[drop]
            held = self.by_card[card]
            held.pop(0)
            if not held:
                del self.by_card[card]
            drop += 1
        if drop:
            del self.order[:drop]
        return result

    def state_size(self) -> int:
        return len(self.order)
