"""Sliding-window features from one time-ordered log of every held event (all cards), trimmed
from the front, plus per-card time-ordered lists of (ts, amount, merchant) tuples."""

from __future__ import annotations

import bisect
import math
from collections import Counter


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float):
        if not (window_s > 0 and allowed_lateness_s >= 0):
            raise ValueError(f"need window_s > 0 and allowed_lateness_s >= 0, got {window_s}, {allowed_lateness_s}")
        self.window_s, self.lateness = window_s, allowed_lateness_s
        self.late_events = 0
        self._log: list[tuple[float, str]] = []          # (ts, card) sorted by ts
        self._cards: dict[str, list[tuple[float, float, str]]] = {}
        self._high = None

    def process(self, event):
        try:
            card, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
        except KeyError as missing:
            raise KeyError(f"event is missing {missing.args[0]!r}") from None
        if not isinstance(card, str):
            raise ValueError("event without card_id")
        if not (math.isfinite(amount) and math.isfinite(ts)):
            raise ValueError(f"amount and ts must be finite, got {amount!r}, {ts!r}")
        if self._high is not None and ts < self._high - self.lateness:
            self.late_events += 1
            return None
        self._high = ts if self._high is None else max(self._high, ts)
        rows = self._cards.setdefault(card, [])
        bisect.insort(rows, (ts, amount, merchant), key=lambda r: r[0])
        bisect.insort(self._log, (ts, card), key=lambda r: r[0])
        lo = bisect.bisect_right(rows, ts - self.window_s, key=lambda r: r[0])
        hi = bisect.bisect_right(rows, ts, key=lambda r: r[0])
        window = rows[lo:hi]
        out = {"count": hi - lo, "total_amount": math.fsum(r[1] for r in window),
               "max_amount": max(r[1] for r in window), "distinct_merchants": len({r[2] for r in window})}
        self._trim()
        return out

    def _trim(self):
        limit = self._high - self.lateness - self.window_s
        cut = bisect.bisect_right(self._log, limit, key=lambda r: r[0])
        if not cut:
            return
        for card, n in Counter(card for _, card in self._log[:cut]).items():
            del self._cards[card][:n]
            if not self._cards[card]:
                del self._cards[card]
        del self._log[:cut]

    def state_size(self):
        return len(self._log)
