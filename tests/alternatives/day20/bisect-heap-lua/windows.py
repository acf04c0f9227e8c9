"""Task 1: event-time sliding windows (per-card sorted lists + one global heap)."""

from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping

_KEYS = ("card_id", "amount", "merchant", "ts")


def _finite(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.lateness = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        self._times: dict[str, list[float]] = {}
        self._events: dict[str, list[tuple[float, float, str]]] = {}
        self._heap: list[tuple[float, str]] = []

    def process(self, event: Mapping) -> dict | None:
        for key in _KEYS:
            if key not in event:
                raise KeyError(key)
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError(f"card_id must be a str, got {card!r}")
        amount = _finite(event["amount"], "amount")
        ts = _finite(event["ts"], "ts")
        merchant = event["merchant"]

        if self._max_ts is not None and ts < self._max_ts - self.lateness:
            self.late_events += 1
            return None

        times = self._times.setdefault(card, [])
        events = self._events.setdefault(card, [])
        at = bisect.bisect_right(times, ts)
        times.insert(at, ts)
        events.insert(at, (ts, event["amount"], merchant))
        heapq.heappush(self._heap, (ts, card))
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)

        lo = bisect.bisect_right(times, ts - self.window_s)
        window = events[lo:at + 1]
        features = {
            "count": len(window),
            "total_amount": sum(float(a) for _, a, _ in window),
            "max_amount": max(a for _, a, _ in window),
            "distinct_merchants": len({m for _, _, m in window}),
        }

        horizon = self._max_ts - self.lateness - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, old_card = heapq.heappop(self._heap)
            self._times[old_card].pop(0)
            self._events[old_card].pop(0)
            if not self._times[old_card]:
                del self._times[old_card]
                del self._events[old_card]
        return features

    def state_size(self) -> int:
        return len(self._heap)
