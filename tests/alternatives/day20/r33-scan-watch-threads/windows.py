"""Per-card lists of event records; prune by scanning every card after each event."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

REQUIRED = ("card_id", "amount", "merchant", "ts")


@dataclass(frozen=True)
class _Rec:
    ts: float
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not (window_s > 0):
            raise ValueError("window_s must be positive")
        if not (allowed_lateness_s >= 0):
            raise ValueError("allowed_lateness_s must be non-negative")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest: float | None = None
        self._by_card: dict[str, list[_Rec]] = {}

    def _watermark(self):
        return None if self._newest is None else self._newest - self._lateness

    def process(self, event: Mapping) -> dict | None:
        missing = [k for k in REQUIRED if k not in event]
        if missing:
            raise KeyError(missing[0])
        card_id, amount, merchant, ts = (event[k] for k in REQUIRED)
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        for name, v in (("amount", amount), ("ts", ts)):
            if v != v or v in (math.inf, -math.inf):
                raise ValueError(f"{name} must be finite")
        wm = self._watermark()
        if wm is not None and ts < wm:
            self.late_events += 1
            return None
        recs = self._by_card.setdefault(card_id, [])
        recs.append(_Rec(ts, amount, merchant))
        if self._newest is None or ts > self._newest:
            self._newest = ts
        inside = [r for r in recs if ts - self._window < r.ts <= ts]
        out = dict(
            count=len(inside),
            total_amount=sum(float(r.amount) for r in inside),
            max_amount=max(r.amount for r in inside),
            distinct_merchants=len({r.merchant for r in inside}),
        )
        horizon = self._watermark() - self._window
        for card in list(self._by_card):
            kept = [r for r in self._by_card[card] if r.ts > horizon]
            if kept:
                self._by_card[card] = kept
            else:
                del self._by_card[card]
        return out

    def state_size(self) -> int:
        return sum(len(v) for v in self._by_card.values())
