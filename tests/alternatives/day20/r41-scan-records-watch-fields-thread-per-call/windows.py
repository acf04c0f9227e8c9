"""Task 1: the slow, obvious version: per-card lists of event records, scanned each time;
eviction by filtering every card once the horizon passes the oldest held event."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Event:
    ts: float
    amount: float
    merchant: str


def _number(value, name: str) -> float:
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return f


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        window_s, allowed_lateness_s = float(window_s), float(allowed_lateness_s)
        if math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be positive")
        if math.isnan(allowed_lateness_s) or allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be non-negative")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self.newest: float | None = None
        self.by_card: dict[str, list[_Event]] = {}
        self.oldest_held = math.inf

    def watermark(self) -> float | None:
        return None if self.newest is None else self.newest - self.allowed_lateness_s

    def process(self, event: Mapping) -> dict | None:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        record = _Event(_number(event["ts"], "ts"), _number(event["amount"], "amount"), event["merchant"])
        mark = self.watermark()
        if mark is not None and record.ts < mark:
            self.late_events += 1
            return None
        self.by_card.setdefault(card, []).append(record)
        self.oldest_held = min(self.oldest_held, record.ts)
        self.newest = record.ts if self.newest is None else max(self.newest, record.ts)
        start = record.ts - self.window_s
        inside = [e for e in self.by_card[card] if start < e.ts <= record.ts]
        result = {
            "count": len(inside),
            "total_amount": sum(e.amount for e in inside),
            "max_amount": max(e.amount for e in inside),
            "distinct_merchants": len({e.merchant for e in inside}),
        }
        self._evict()
        return result

    def _evict(self) -> None:
        horizon = self.watermark() - self.window_s
        if self.oldest_held > horizon:
            return
        oldest = math.inf
        for card in list(self.by_card):
            kept = [e for e in self.by_card[card] if e.ts > horizon]
            if kept:
                self.by_card[card] = kept
                oldest = min(oldest, min(e.ts for e in kept))
            else:
                del self.by_card[card]
        self.oldest_held = oldest

    def state_size(self) -> int:
        return sum(len(events) for events in self.by_card.values())
