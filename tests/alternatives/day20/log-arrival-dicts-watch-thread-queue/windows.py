"""Task 1: event-time window features from one time-ordered log of every held event."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Mapping


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if window_s <= 0 or math.isnan(window_s):
            raise ValueError("window_s must be positive")
        if allowed_lateness_s < 0 or math.isnan(allowed_lateness_s):
            raise ValueError("allowed_lateness_s must not be negative")
        self._window = window_s
        self._lateness = allowed_lateness_s
        self.late_events = 0
        self._newest = -math.inf
        self._arrivals = 0
        # every held event, ordered by (ts, arrival number): the oldest is always at the front
        self._log: list[tuple[float, int, str]] = []
        # per card: arrival number -> (ts, amount, merchant)
        self._by_card: dict[str, dict[int, tuple[float, float, str]]] = defaultdict(dict)

    @staticmethod
    def _validated(event: Mapping) -> tuple:
        card_id = event["card_id"]
        amount = event["amount"]
        merchant = event["merchant"]
        ts = event["ts"]
        if not isinstance(card_id, str):
            raise ValueError("an event needs a card_id")
        for name, value in (("amount", amount), ("ts", ts)):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"{name} is not finite: {value!r}")
        return card_id, amount, merchant, ts

    def process(self, event: Mapping) -> dict | None:
        card_id, amount, merchant, ts = self._validated(event)
        if ts < self._newest - self._lateness:
            self.late_events += 1
            return None
        self._arrivals += 1
        number = self._arrivals
        bisect.insort(self._log, (ts, number, card_id))
        self._by_card[card_id][number] = (ts, amount, merchant)
        self._newest = max(self._newest, ts)

        start = ts - self._window
        count, total, biggest, merchants = 0, 0, None, set()
        for t, a, m in self._by_card[card_id].values():
            if start < t <= ts:
                count += 1
                total += float(a)
                biggest = a if biggest is None or a > biggest else biggest
                merchants.add(m)
        result = dict(count=count, total_amount=total, max_amount=biggest, distinct_merchants=len(merchants))

        horizon = self._newest - self._lateness - self._window
        cut = bisect.bisect_right(self._log, (horizon, math.inf))
        for _, old, card in self._log[:cut]:
            held = self._by_card[card]
            del held[old]
            if not held:
                del self._by_card[card]
        del self._log[:cut]
        return result

    def state_size(self) -> int:
        return sum(len(held) for held in self._by_card.values())
