"""Sliding-window features kept as per-card deques of small records, re-sorted on insert."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

REQUIRED = ("card_id", "amount", "merchant", "ts")


@dataclass(frozen=True)
class _Txn:
    ts: float
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0 or not allowed_lateness_s >= 0:  # NaN too
            raise ValueError("window_s must be > 0 and allowed_lateness_s >= 0")
        self._window = float(window_s)
        self._lateness = float(allowed_lateness_s)
        self._newest = -math.inf
        self._by_card: dict[str, list[_Txn]] = {}
        self._held = 0
        self.late_events = 0

    @property
    def _watermark(self) -> float:
        return self._newest - self._lateness

    def _validate(self, event: Mapping) -> _Txn:
        missing = [k for k in REQUIRED if k not in event]
        if missing:
            raise KeyError(missing[0])
        if not isinstance(event["card_id"], str):
            raise ValueError("card_id must be a str")
        for key in ("amount", "ts"):
            if math.isnan(event[key]) or math.isinf(event[key]):
                raise ValueError(f"{key} must be finite")
        return _Txn(event["ts"], event["amount"], event["merchant"])

    def process(self, event: Mapping) -> dict | None:
        txn = self._validate(event)
        if txn.ts < self._watermark:
            self.late_events += 1
            return None
        card = event["card_id"]
        history = self._by_card.setdefault(card, [])
        history.append(txn)
        history.sort(key=lambda t: t.ts)
        self._held += 1
        self._newest = max(self._newest, txn.ts)
        in_window = [t for t in history if txn.ts - self._window < t.ts <= txn.ts]
        features = dict(
            count=len(in_window),
            total_amount=math.fsum(t.amount for t in in_window),
            max_amount=max(t.amount for t in in_window),
            distinct_merchants=len(set(t.merchant for t in in_window)),
        )
        self._evict()
        return features

    def _evict(self) -> None:
        horizon = self._watermark - self._window
        for card in list(self._by_card):
            kept = [t for t in self._by_card[card] if t.ts > horizon]
            self._held -= len(self._by_card[card]) - len(kept)
            if kept:
                self._by_card[card] = kept
            else:
                del self._by_card[card]

    def state_size(self) -> int:
        return self._held
