"""Task 1: event-time sliding-window features (plain per-card lists, linear scans)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

_KEYS = ("card_id", "amount", "merchant", "ts")


class _Event(NamedTuple):
    ts: object
    amount: object
    merchant: str


def _is_finite(value) -> bool:
    try:
        return math.isfinite(value)
    except TypeError:
        return False


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:  # NaN fails this too
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if not allowed_lateness_s >= 0:
            raise ValueError(f"allowed_lateness_s must be >= 0, got {allowed_lateness_s!r}")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest = None          # greatest accepted ts
        self._by_card: dict[str, list[_Event]] = {}
        self._oldest_held = None     # smallest held ts, to skip needless eviction scans

    def _watermark(self):
        return None if self._newest is None else self._newest - self._lateness

    def process(self, event: Mapping) -> dict | None:
        card_id, amount, merchant, ts = (event[key] for key in _KEYS)
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not _is_finite(amount):
            raise ValueError(f"amount must be a finite number, got {amount!r}")
        if not _is_finite(ts):
            raise ValueError(f"ts must be a finite number, got {ts!r}")

        mark = self._watermark()
        if mark is not None and ts < mark:
            self.late_events += 1
            return None

        held = self._by_card.setdefault(card_id, [])
        held.append(_Event(ts, amount, merchant))
        if self._newest is None or ts > self._newest:
            self._newest = ts
        if self._oldest_held is None or ts < self._oldest_held:
            self._oldest_held = ts

        start = ts - self._window
        inside = [e for e in held if start < e.ts <= ts]
        result = {
            "count": len(inside),
            "total_amount": math.fsum(float(e.amount) for e in inside),
            "max_amount": max((e.amount for e in inside), key=float),
            "distinct_merchants": len({e.merchant for e in inside}),
        }
        self._evict()
        return result

    def _evict(self) -> None:
        horizon = self._watermark() - self._window
        if self._oldest_held is None or self._oldest_held > horizon:
            return
        oldest = None
        for card_id in list(self._by_card):
            kept = [e for e in self._by_card[card_id] if e.ts > horizon]
            if kept:
                self._by_card[card_id] = kept
                low = min(e.ts for e in kept)
                oldest = low if oldest is None or low < oldest else oldest
            else:
                del self._by_card[card_id]
        self._oldest_held = oldest

    def state_size(self) -> int:
        return sum(len(events) for events in self._by_card.values())
