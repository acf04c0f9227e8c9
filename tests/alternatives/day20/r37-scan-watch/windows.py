"""Sliding-window features, the plain way: each card keeps a list of its events, every
window is a scan of that list, and eviction sweeps every card once the oldest held event
falls behind the horizon."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple


class Held(NamedTuple):
    ts: float
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be positive")
        if math.isnan(allowed_lateness_s) or allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self.newest = None
        self.events: dict[str, list[Held]] = {}
        self.oldest = math.inf  # the oldest held time, so most calls skip the sweep

    def process(self, event: Mapping) -> dict | None:
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        card = event["card_id"]
        amount = event["amount"]
        ts = event["ts"]
        if not isinstance(card, str):
            raise ValueError("an event needs a card_id")
        for name, value in (("amount", amount), ("ts", ts)):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"{name} must be finite")
        if self.newest is not None and ts < self.newest - self.lateness:
            self.late_events += 1
            return None
        held = Held(ts, amount, event["merchant"])
        self.events.setdefault(card, []).append(held)
        self.oldest = min(self.oldest, ts)
        if self.newest is None or ts > self.newest:
            self.newest = ts
        start = ts - self.window_s
        count, total, biggest, merchants = 0, 0, None, set()
        for e in self.events[card]:
            if start < e.ts <= ts:
                count += 1
                total += float(e.amount)
                biggest = e.amount if biggest is None else max(biggest, e.amount)
                merchants.add(e.merchant)
        self._sweep()
        return {"count": count, "total_amount": total, "max_amount": biggest,
                "distinct_merchants": len(merchants)}

    def _sweep(self) -> None:
        horizon = self.newest - self.lateness - self.window_s
        if self.oldest > horizon:
            return
        oldest = math.inf
        for card in list(self.events):
            kept = [e for e in self.events[card] if e.ts > horizon]
            if kept:
                self.events[card] = kept
                oldest = min(oldest, min(e.ts for e in kept))
            else:
                del self.events[card]
        self.oldest = oldest

    def state_size(self) -> int:
        return sum(len(events) for events in self.events.values())
