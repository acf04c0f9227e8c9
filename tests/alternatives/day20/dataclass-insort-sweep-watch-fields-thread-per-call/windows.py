"""Task 1, written as per-card sorted lists of records and a sweep over the cards held."""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections.abc import Mapping
from dataclasses import dataclass, field

REQUIRED = ("card_id", "amount", "merchant", "ts")


@dataclass(order=True, frozen=True)
class _Txn:
    ts: float
    seq: int
    amount: float = field(compare=False)
    merchant: str = field(compare=False)


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be positive")
        if math.isnan(allowed_lateness_s) or allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest = -math.inf
        self._started = False
        self._by_card: dict[object, list[_Txn]] = {}
        self._seq = 0

    @property
    def _watermark(self) -> float:
        return self._newest - self._lateness

    def _validated(self, event: Mapping) -> tuple:
        missing = [k for k in REQUIRED if k not in event]
        if missing:
            raise KeyError(missing[0])
        values = tuple(event[k] for k in REQUIRED)
        card, amount, _, ts = values
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, number in (("amount", amount), ("ts", ts)):
            if math.isnan(number) or math.isinf(number):
                raise ValueError(f"{name} must be finite, got {number}")
        return values

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = self._validated(event)
        if self._started and ts < self._watermark:
            self.late_events += 1
            return None
        self._seq += 1
        txns = self._by_card.setdefault(card, [])
        insort(txns, _Txn(ts, self._seq, amount, merchant))
        if not self._started or ts > self._newest:
            self._newest, self._started = ts, True
        start = ts - self._window
        seen = [t for t in txns if start < t.ts <= ts]
        result = dict(count=len(seen), total_amount=sum(float(t.amount) for t in seen),
                      max_amount=max(t.amount for t in seen),
                      distinct_merchants=len({t.merchant for t in seen}))
        self._evict(self._watermark - self._window)
        return result

    def _evict(self, horizon: float) -> None:
        for card in list(self._by_card):
            txns = self._by_card[card]
            cut = 0
            while cut < len(txns) and txns[cut].ts <= horizon:
                cut += 1
            if cut == len(txns):
                del self._by_card[card]
            elif cut:
                del txns[:cut]

    def state_size(self) -> int:
        return sum(len(t) for t in self._by_card.values())
