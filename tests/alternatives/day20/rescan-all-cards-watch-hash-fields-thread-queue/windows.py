"""Task 1: event-time sliding-window features (plain per-card lists, full scans)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

REQUIRED = ("card_id", "amount", "merchant", "ts")


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if window_s <= 0 or math.isnan(window_s):
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0 or math.isnan(allowed_lateness_s):
            raise ValueError("allowed_lateness_s must be >= 0")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self._newest = -math.inf
        self._seen_any = False
        self._events: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
        self.late_events = 0

    def _watermark(self) -> float:
        return self._newest - self._lateness

    def process(self, event: Mapping) -> dict | None:
        missing = [k for k in REQUIRED if k not in event]
        if missing:
            raise KeyError(missing[0])
        card_id = event["card_id"]
        amount = event["amount"]
        ts = event["ts"]
        merchant = event["merchant"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        for name, v in (("amount", amount), ("ts", ts)):
            if math.isnan(v) or math.isinf(v):
                raise ValueError(f"{name} must be finite")
        if self._seen_any and ts < self._watermark():
            self.late_events += 1
            return None
        self._seen_any = True
        self._events[card_id].append((ts, amount, merchant))
        self._newest = max(self._newest, ts)
        inside = [(a, m) for (t, a, m) in self._events[card_id] if ts - self._window < t <= ts]
        result = dict(count=len(inside),
                      total_amount=sum(float(a) for a, _ in inside),
                      max_amount=max(a for a, _ in inside),
                      distinct_merchants=len({m for _, m in inside}))
        keep_after = self._watermark() - self._window
        for cid in list(self._events):
            kept = [e for e in self._events[cid] if e[0] > keep_after]
            if kept:
                self._events[cid] = kept
            else:
                del self._events[cid]
        return result

    def state_size(self) -> int:
        return sum(len(v) for v in self._events.values())
