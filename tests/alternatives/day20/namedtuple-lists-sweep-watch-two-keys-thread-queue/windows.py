"""Task 1: unsorted per-card lists of records, scanned; a sweep whenever the horizon passes the oldest."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

REQUIRED = ("card_id", "amount", "merchant", "ts")


class _Txn(NamedTuple):
    ts: float
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if window_s <= 0 or allowed_lateness_s < 0 or math.isnan(window_s) or math.isnan(allowed_lateness_s):
            raise ValueError("window_s must be > 0 and allowed_lateness_s >= 0")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self._newest = -math.inf
        self._by_card: dict[object, list[_Txn]] = {}
        self._oldest = math.inf
        self.late_events = 0

    @property
    def _watermark(self) -> float:
        return self._newest - self._lateness

    def _check(self, event: Mapping) -> _Txn:
        missing = [k for k in REQUIRED if k not in event]
        if missing:
            raise KeyError(missing[0])
        if not isinstance(event["card_id"], str):
            raise ValueError("card_id must be a str")
        for k in ("amount", "ts"):
            if math.isnan(event[k]) or math.isinf(event[k]):
                raise ValueError(f"{k} must be finite")
        return _Txn(event["ts"], event["amount"], event["merchant"])

    def process(self, event: Mapping) -> dict | None:
        txn = self._check(event)
        if txn.ts < self._watermark:
            self.late_events += 1
            return None
        history = self._by_card.setdefault(event["card_id"], [])
        history.append(txn)
        self._newest = max(self._newest, txn.ts)
        self._oldest = min(self._oldest, txn.ts)
        start = txn.ts - self._window
        inside = [t for t in history if start < t.ts <= txn.ts]
        features = dict(
            count=len(inside),
            total_amount=math.fsum(t.amount for t in inside),
            max_amount=max(t.amount for t in inside),
            distinct_merchants=len({t.merchant for t in inside}),
        )
        self._sweep()
        return features

    def _sweep(self) -> None:
        horizon = self._watermark - self._window
        if self._oldest > horizon:
            return
        oldest = math.inf
        for card in list(self._by_card):
            kept = [t for t in self._by_card[card] if t.ts > horizon]
            if kept:
                self._by_card[card] = kept
                oldest = min(oldest, min(t.ts for t in kept))
            else:
                del self._by_card[card]
        self._oldest = oldest

    def state_size(self) -> int:
        return sum(map(len, self._by_card.values()))
