"""Task 1 (style B): per-card lists of small event records scanned linearly; eviction by a heap of event ids."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from operator import index


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    ts: float
    amount: float
    merchant: str


def _as_number(value, name):
    """An int stays an int (exact), anything else real becomes a float; NaN/inf or non-numbers -> ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: not a number: {value!r}")
    try:
        return index(value)  # int, numpy integers
    except TypeError:
        pass
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number: {value!r}") from None
    if isinstance(value, (str, bytes)) or not math.isfinite(number):
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return number


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if window_s != window_s or allowed_lateness_s != allowed_lateness_s:
            raise ValueError("NaN setting")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest: float | None = None
        self._by_card: dict[str, list[_Event]] = {}
        self._expiry: list[tuple[float, int, str]] = []
        self._ids = itertools.count()

    @property
    def watermark(self):
        return None if self._newest is None else self._newest - self._lateness

    def _validated(self, event: Mapping):
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError(f"card_id must be a str: {card!r}")
        return card, _as_number(event["amount"], "amount"), event["merchant"], _as_number(event["ts"], "ts")

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = self._validated(event)
        mark = self.watermark
        if mark is not None and ts < mark:
            self.late_events += 1
            return None
        record = _Event(next(self._ids), ts, amount, merchant)
        self._by_card.setdefault(card, []).append(record)
        heapq.heappush(self._expiry, (ts, record.seq, card))
        if self._newest is None or ts > self._newest:
            self._newest = ts

        start = ts - self._window
        inside = [e for e in self._by_card[card] if start < e.ts <= ts]
        result = dict(count=len(inside),
                      total_amount=sum(e.amount for e in inside),
                      max_amount=max(e.amount for e in inside),
                      distinct_merchants=len({e.merchant for e in inside}))
        self._evict()
        return result

    def _evict(self) -> None:
        horizon = self.watermark - self._window
        while self._expiry and self._expiry[0][0] <= horizon:
            _, seq, card = heapq.heappop(self._expiry)
            events = self._by_card[card]
            for i, e in enumerate(events):
                if e.seq == seq:
                    del events[i]
                    break
            if not events:
                del self._by_card[card]

    def state_size(self) -> int:
        return sum(len(events) for events in self._by_card.values())
