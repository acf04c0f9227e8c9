"""Task 1: event-time window features, the plain way: per-card lists of frozen records, scanned."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real


@dataclass(frozen=True, slots=True)
class _Held:
    ts: float
    amount: float
    merchant: str


def _check_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} is not a number: {value!r}")
    as_float = float(value)
    if math.isnan(as_float) or math.isinf(as_float):
        raise ValueError(f"{name} is not finite: {value!r}")
    return as_float


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if isinstance(window_s, bool) or not isinstance(window_s, Real) or math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be > 0")
        if (isinstance(allowed_lateness_s, bool) or not isinstance(allowed_lateness_s, Real)
                or math.isnan(allowed_lateness_s) or allowed_lateness_s < 0):
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._newest: float | None = None
        self._by_card: dict[str, list[_Held]] = {}

    def _watermark(self) -> float | None:
        return None if self._newest is None else self._newest - self.allowed_lateness_s

    def process(self, event: Mapping) -> dict | None:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        amount = _check_number("amount", event["amount"])
        ts = _check_number("ts", event["ts"])
        record = _Held(ts, amount, event["merchant"])

        mark = self._watermark()
        if mark is not None and ts < mark:
            self.late_events += 1
            return None

        self._by_card.setdefault(card, []).append(record)
        if self._newest is None or ts > self._newest:
            self._newest = ts

        start = ts - self.window_s
        inside = [e for e in self._by_card[card] if start < e.ts <= ts]
        result = {
            "count": len(inside),
            "total_amount": sum(e.amount for e in inside),
            "max_amount": max(e.amount for e in inside),
            "distinct_merchants": len({e.merchant for e in inside}),
        }
        self._evict()
        return result

    def _evict(self) -> None:
        horizon = self._watermark() - self.window_s
        for card in list(self._by_card):
            kept = [e for e in self._by_card[card] if e.ts > horizon]
            if kept:
                self._by_card[card] = kept
            else:
                del self._by_card[card]

    def state_size(self) -> int:
        return sum(len(events) for events in self._by_card.values())
