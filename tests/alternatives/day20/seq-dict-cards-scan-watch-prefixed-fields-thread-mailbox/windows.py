"""Task 1: event-time window features, one small object per card.

Every held transaction gets a sequence number; each card keeps its transactions in a dict
by sequence number and answers a window query by scanning them. A global min-heap over
(ts, seq, card) says which transaction to forget next.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class _Txn:
    ts: float
    amount: float
    merchant: str


@dataclass
class _Card:
    txns: dict[int, _Txn] = field(default_factory=dict)

    def window(self, start: float, end: float) -> dict:
        inside = [t for t in self.txns.values() if start < t.ts <= end]
        return {
            "count": len(inside),
            "total_amount": math.fsum(t.amount for t in inside),
            "max_amount": max(t.amount for t in inside),
            "distinct_merchants": len({t.merchant for t in inside}),
        }


REQUIRED = ("card_id", "amount", "merchant", "ts")


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0 or not allowed_lateness_s >= 0:
            raise ValueError("window_s must be > 0 and allowed_lateness_s >= 0")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self._newest = -math.inf
        self._cards: dict[str, _Card] = {}
        self._expiry: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self.late_events = 0

    @property
    def watermark(self) -> float:
        return self._newest - self._lateness

    def process(self, event: Mapping) -> dict | None:
        card_id, amount, merchant, ts = (event[key] for key in REQUIRED)
        if not isinstance(card_id, str) or not math.isfinite(amount) or not math.isfinite(ts):
            raise ValueError(f"bad event: {dict(event)!r}")
        if ts < self.watermark:
            self.late_events += 1
            return None
        seq = next(self._seq)
        card = self._cards.get(card_id)
        if card is None:
            card = self._cards[card_id] = _Card()
        card.txns[seq] = _Txn(ts, amount, merchant)
        heapq.heappush(self._expiry, (ts, seq, card_id))
        self._newest = max(self._newest, ts)
        result = card.window(ts - self._window, ts)
        self._forget(self.watermark - self._window)
        return result

    def _forget(self, horizon: float) -> None:
        while self._expiry and self._expiry[0][0] <= horizon:
            _, seq, card_id = heapq.heappop(self._expiry)
            card = self._cards[card_id]
            del card.txns[seq]
            if not card.txns:
                del self._cards[card_id]

    def state_size(self) -> int:
        return sum(len(card.txns) for card in self._cards.values())
