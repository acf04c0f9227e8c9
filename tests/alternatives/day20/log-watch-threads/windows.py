"""Task 1: one global time-ordered log of held events; per-card unsorted buckets scanned in full."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(eq=False)
class _Held:
    ts: float
    card: str
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if window_s <= 0 or math.isnan(window_s):
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0 or math.isnan(allowed_lateness_s):
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = float(window_s)
        self.allowed_lateness_s = float(allowed_lateness_s)
        self.late_events = 0
        self.watermark = -math.inf
        self._log: list[_Held] = []          # every held event, oldest first
        self._by_card: dict[str, list[_Held]] = defaultdict(list)

    def _validate(self, event: Mapping) -> _Held:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        if not isinstance(event["card_id"], str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(event["amount"]):
            raise ValueError("amount must be finite")
        if not math.isfinite(event["ts"]):
            raise ValueError("ts must be finite")
        return _Held(event["ts"], event["card_id"], event["amount"], event["merchant"])

    def process(self, event: Mapping) -> dict | None:
        held = self._validate(event)
        if held.ts < self.watermark:
            self.late_events += 1
            return None
        bisect.insort(self._log, held, key=lambda h: h.ts)
        self._by_card[held.card].append(held)
        self.watermark = max(self.watermark, held.ts - self.allowed_lateness_s)
        start = held.ts - self.window_s
        inside = [h for h in self._by_card[held.card] if start < h.ts <= held.ts]
        result = {
            "count": len(inside),
            "total_amount": sum(float(h.amount) for h in inside),
            "max_amount": max(h.amount for h in inside),
            "distinct_merchants": len({h.merchant for h in inside}),
        }
        self._evict(self.watermark - self.window_s)
        return result

    def _evict(self, horizon: float) -> None:
        cut = 0
        while cut < len(self._log) and self._log[cut].ts <= horizon:
            old = self._log[cut]
            bucket = self._by_card[old.card]
            bucket.remove(old)
            if not bucket:
                del self._by_card[old.card]
            cut += 1
        if cut:
            del self._log[:cut]

    def state_size(self) -> int:
        return len(self._log)
