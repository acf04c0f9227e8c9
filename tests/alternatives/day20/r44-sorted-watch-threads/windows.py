"""Task 1: sliding windows, global SortedList + per-card record dicts."""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
from sortedcontainers import SortedList


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class SlidingWindowFeatures:
    def __init__(self, window_s, allowed_lateness_s):
        try:
            bad = not (window_s > 0) or not (allowed_lateness_s >= 0)
        except TypeError as e:
            raise ValueError("settings must be numbers") from e
        if bad:  # NaN compares False both ways
            raise ValueError("window_s must be > 0 and allowed_lateness_s >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._newest = None
        self._order = SortedList()          # (ts, seq, card_id)
        self._by_card: dict = {}            # card_id -> {seq: (ts, amount, merchant)}
        self._seq = itertools.count()

    @staticmethod
    def _check(event):
        card_id, amount, merchant, ts = (event["card_id"], event["amount"], event["merchant"], event["ts"])
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        amount, ts = _plain(amount), _plain(ts)
        for name, v in (("amount", amount), ("ts", ts)):
            try:
                ok = math.isfinite(v)
            except TypeError as e:
                raise ValueError(f"{name} is not a number") from e
            if not ok:
                raise ValueError(f"{name} must be finite")
        return card_id, amount, merchant, ts

    def process(self, event: Mapping):
        card_id, amount, merchant, ts = self._check(event)
        if self._newest is not None and ts < self._newest - self.allowed_lateness_s:
            self.late_events += 1
            return None
        seq = next(self._seq)
        self._by_card.setdefault(card_id, {})[seq] = (ts, amount, merchant)
        self._order.add((ts, seq, card_id))
        self._newest = ts if self._newest is None else max(self._newest, ts)
        start = ts - self.window_s
        inside = [r for r in self._by_card[card_id].values() if start < r[0] <= ts]
        result = {
            "count": len(inside),
            "total_amount": sum(r[1] for r in inside),
            "max_amount": max(r[1] for r in inside),
            "distinct_merchants": len({r[2] for r in inside}),
        }
        horizon = self._newest - self.allowed_lateness_s - self.window_s
        while self._order and self._order[0][0] <= horizon:
            _, old_seq, old_card = self._order.pop(0)
            records = self._by_card[old_card]
            del records[old_seq]
            if not records:
                del self._by_card[old_card]
        return result

    def state_size(self):
        return len(self._order)
