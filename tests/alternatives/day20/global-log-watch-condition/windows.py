"""Task 1: event-time sliding windows over one global time-ordered log."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or window_s <= 0:
            raise ValueError("window_s must be positive")
        if math.isnan(allowed_lateness_s) or allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._newest = -math.inf
        self._log: list[tuple[float, int, str, float, str]] = []  # (ts, seq, card, amount, merchant)
        self._seq = itertools.count()

    @staticmethod
    def _check(event: Mapping):
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(f"event has no {missing[0]!r}")
        card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        if card is None or not isinstance(card, str):
            raise ValueError("card_id must be a str")
        for name, value in (("amount", amount), ("ts", ts)):
            try:
                ok = math.isfinite(value)
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        return card, amount, merchant, float(ts)

    def process(self, event: Mapping) -> dict | None:
        card, amount, merchant, ts = self._check(event)
        watermark = self._newest - self.allowed_lateness_s
        if ts < watermark:
            self.late_events += 1
            return None
        bisect.insort(self._log, (ts, next(self._seq), card, amount, merchant))
        self._newest = max(self._newest, ts)

        start = bisect.bisect_right(self._log, (ts - self.window_s, math.inf))
        stop = bisect.bisect_right(self._log, (ts, math.inf))
        count, total, biggest, merchants = 0, 0, -math.inf, set()
        for _, _, c, a, m in self._log[start:stop]:
            if c == card:
                count += 1
                total += float(a)
                biggest = max(biggest, a)
                merchants.add(m)

        horizon = self._newest - self.allowed_lateness_s - self.window_s
        cut = bisect.bisect_right(self._log, (horizon, math.inf))
        if cut:
            del self._log[:cut]
        return {"count": count, "total_amount": total, "max_amount": biggest,
                "distinct_merchants": len(merchants)}

    def state_size(self) -> int:
        return len(self._log)
