"""Task 1, style B: per-card lists of event tuples scanned linearly; one globally sorted index of
(ts, seq, card) whose prefix below the horizon is cut off after every call."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class _Event:
    ts: float
    seq: int
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or math.isnan(allowed_lateness_s):
            raise ValueError("NaN setting")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest = -math.inf
        self._seen_any = False
        self._by_card: dict[object, list[_Event]] = {}
        self._index: list[tuple[float, int, object]] = []  # sorted by (ts, seq)
        self._seq = 0

    @property
    def _watermark(self) -> float:
        return self._newest - self._lateness if self._seen_any else -math.inf

    def process(self, event: Mapping) -> dict | None:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, value in (("amount", amount), ("ts", ts)):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"{name} is not finite: {value!r}")
        if ts < self._watermark:
            self.late_events += 1
            return None
        self._seq += 1
        record = _Event(ts, self._seq, amount, merchant)
        self._by_card.setdefault(card, []).append(record)
        bisect.insort(self._index, (ts, self._seq, card))
        self._seen_any = True
        if ts > self._newest:
            self._newest = ts
        start = ts - self._window
        inside = [e for e in self._by_card[card] if start < e.ts <= ts]
        features = {
            "count": len(inside),
            "total_amount": math.fsum(e.amount for e in inside) if all(isinstance(e.amount, float) for e in inside)
            else sum(float(e.amount) for e in inside),
            "max_amount": max(e.amount for e in inside),
            "distinct_merchants": len({e.merchant for e in inside}),
        }
        self._evict()
        return features

    def _evict(self) -> None:
        horizon = self._watermark - self._window
        cut = bisect.bisect_right(self._index, (horizon, math.inf))
        if not cut:
            return
        dropped = self._index[:cut]
        del self._index[:cut]
        gone: dict[object, set[int]] = {}
        for _, seq, card in dropped:
            gone.setdefault(card, set()).add(seq)
        for card, seqs in gone.items():
            kept = [e for e in self._by_card[card] if e.seq not in seqs]
            if kept:
                self._by_card[card] = kept
            else:
                del self._by_card[card]

    def state_size(self) -> int:
        return len(self._index)
