"""Task 1: event-time sliding-window features (sorted per-card lists + a global heap)."""

from __future__ import annotations

import bisect
import heapq
import math
import numbers
from collections.abc import Mapping


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not _real(window_s) or not window_s > 0:
            raise ValueError(f"window_s must be a positive number, got {window_s!r}")
        if not _real(allowed_lateness_s) or not allowed_lateness_s >= 0:
            raise ValueError(f"allowed_lateness_s must be >= 0, got {allowed_lateness_s!r}")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts: float | None = None
        # card -> (times, amounts, merchants), parallel lists sorted by time
        self._cards: dict[str, tuple[list, list, list]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._held = 0

    def process(self, event: Mapping) -> dict | None:
        card = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, value in (("amount", amount), ("ts", ts)):
            if not _real(value):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} must be finite, got {value!r}")
        ts = float(ts)
        amount = float(amount)
        if self._max_ts is not None and ts < self._max_ts - self.allowed_lateness_s:
            self.late_events += 1
            return None
        times, amounts, merchants = self._cards.setdefault(card, ([], [], []))
        pos = bisect.bisect_right(times, ts)
        times.insert(pos, ts)
        amounts.insert(pos, amount)
        merchants.insert(pos, merchant)
        self._held += 1
        heapq.heappush(self._heap, (ts, self._seq, card))
        self._seq += 1
        self._max_ts = ts if self._max_ts is None else max(self._max_ts, ts)

        lo = bisect.bisect_right(times, ts - self.window_s)
        hi = bisect.bisect_right(times, ts)
        window_amounts = amounts[lo:hi]
        features = {
            "count": hi - lo,
            "total_amount": math.fsum(window_amounts),
            "max_amount": max(window_amounts),
            "distinct_merchants": len(set(merchants[lo:hi])),
        }
        horizon = (self._max_ts - self.allowed_lateness_s) - self.window_s
        while self._heap and self._heap[0][0] <= horizon:
            _, _, old_card = heapq.heappop(self._heap)
            t, a, m = self._cards[old_card]
            del t[0], a[0], m[0]
            self._held -= 1
            if not t:
                del self._cards[old_card]
        return features

    def state_size(self) -> int:
        return self._held
