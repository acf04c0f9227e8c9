from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class _Event:
    ts: float
    amount: float
    merchant: str


def _num(v, name):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number: {v!r}") from None
    if isinstance(v, str) or not math.isfinite(f):
        raise ValueError(f"{name}: not a finite number: {v!r}")
    return f


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not (window_s > 0):          # False for NaN too
            raise ValueError("window_s must be > 0")
        if not (allowed_lateness_s >= 0):
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._watermark = None
        self._by_card: dict[str, list[_Event]] = {}

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = (event["card_id"], event["amount"], event["merchant"], event["ts"])
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        amount = _num(amount, "amount")
        ts = _num(ts, "ts")
        if self._watermark is not None and self._watermark - ts > 0:
            self.late_events += 1
            return None
        kept = _Event(ts, amount, merchant)
        events = self._by_card.setdefault(card, [])
        events.append(kept)
        window = [e for e in events if ts - e.ts < self.window_s and e.ts <= ts]
        result = dict(count=len(window),
                      total_amount=sum(e.amount for e in window),
                      max_amount=max(e.amount for e in window),
                      distinct_merchants=len({e.merchant for e in window}))
        candidate = ts - self.allowed_lateness_s
        if self._watermark is None or candidate > self._watermark:
            self._watermark = candidate
            horizon = self._watermark - self.window_s
            for c in list(self._by_card):
                left = [e for e in self._by_card[c] if e.ts > horizon]
                if left:
                    self._by_card[c] = left
                else:
                    del self._by_card[c]
        return result

    def state_size(self) -> int:
        return sum(len(v) for v in self._by_card.values())
