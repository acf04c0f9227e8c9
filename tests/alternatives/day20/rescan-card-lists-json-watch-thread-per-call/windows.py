"""Task 1: event-time window features, kept as plain per-card event lists scanned each time."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class _Event:
    ts: float
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
        self.by_card: dict[str, list[_Event]] = defaultdict(list)

    def _validated(self, event: Mapping) -> tuple:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card_id, amount, ts = event["card_id"], event["amount"], event["ts"]
        if not isinstance(card_id, str) or math.isnan(amount) or math.isinf(amount) or math.isnan(ts) or math.isinf(ts):
            raise ValueError(f"bad event {event!r}")
        return card_id, _Event(ts, amount, event["merchant"])

    def process(self, event: Mapping) -> dict | None:
        card_id, new = self._validated(event)
        if new.ts < self.watermark:
            self.late_events += 1
            return None
        self.by_card[card_id].append(new)
        self.watermark = max(self.watermark, new.ts - self.allowed_lateness_s)
        seen = [e for e in self.by_card[card_id] if new.ts - self.window_s < e.ts <= new.ts]
        result = dict(
            count=len(seen),
            total_amount=math.fsum(e.amount for e in seen),
            max_amount=max(e.amount for e in seen),
            distinct_merchants=len({e.merchant for e in seen}),
        )
        self._evict()
        return result

    def _evict(self) -> None:
        horizon = self.watermark - self.window_s
        for card_id in list(self.by_card):
            kept = [e for e in self.by_card[card_id] if e.ts > horizon]
            if kept:
                self.by_card[card_id] = kept
            else:
                del self.by_card[card_id]

    def state_size(self) -> int:
        return sum(map(len, self.by_card.values()))
