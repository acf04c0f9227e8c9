"""Task 1: one global time-ordered list of held events, scanned for each window."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be positive")
        if math.isnan(allowed_lateness_s) or allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._newest = -math.inf
        self._held: list[tuple[float, int, str, float, str]] = []  # (ts, seq, card, amount, merchant), sorted
        self._seq = itertools.count()

    @property
    def watermark(self) -> float:
        return self._newest - self.allowed_lateness_s

    def process(self, event: Mapping) -> dict | None:
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount) or not math.isfinite(ts):
            raise ValueError("amount and ts must be finite")

        if ts < self.watermark:
            self.late_events += 1
            return None

        bisect.insort(self._held, (ts, next(self._seq), card, amount, merchant))
        if ts > self._newest:
            self._newest = ts

        start = bisect.bisect_right(self._held, (ts - self.window_s, math.inf))
        count, total, biggest, merchants = 0, 0, -math.inf, set()
        for t, _, c, a, m in self._held[start:]:
            if t > ts:
                break
            if c == card:
                count += 1
                total += float(a)
                biggest = max(biggest, a)
                merchants.add(m)

        horizon = self.watermark - self.window_s
        cut = bisect.bisect_right(self._held, (horizon, math.inf))
        if cut:
            del self._held[:cut]
        return {"count": count, "total_amount": total, "max_amount": biggest,
                "distinct_merchants": len(merchants)}

    def state_size(self) -> int:
        return len(self._held)
