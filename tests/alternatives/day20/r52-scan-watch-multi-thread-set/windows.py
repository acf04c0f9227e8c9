from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

REQUIRED = ("card_id", "amount", "merchant", "ts")


def _check_number(x, what):
    if isinstance(x, bool) or not isinstance(x, Real):
        raise ValueError(f"{what} is not a number: {x!r}")
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{what} must be finite: {x!r}")


class SlidingWindowFeatures:
    """Brute force: per card an unsorted list of (ts, amount, merchant); scan it every call."""

    def __init__(self, window_s, allowed_lateness_s):
        if isinstance(window_s, bool) or isinstance(allowed_lateness_s, bool):
            raise ValueError("bools are not durations")
        if not (window_s > 0):           # NaN fails too
            raise ValueError("window_s must be > 0")
        if not (allowed_lateness_s >= 0):
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self.state: dict[str, list[tuple]] = {}
        self.max_ts = None

    def watermark(self):
        return None if self.max_ts is None else self.max_ts - self.allowed_lateness_s

    def process(self, event):
        missing = [k for k in REQUIRED if k not in event]
        if missing:
            raise KeyError(missing[0])
        card_id, amount, merchant, ts = (event[k] for k in REQUIRED)
        if type(card_id) is not str and not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        _check_number(amount, "amount")
        _check_number(ts, "ts")
        wm = self.watermark()
        if wm is not None and ts < wm:
            self.late_events += 1
            return None
        self.state.setdefault(card_id, []).append((ts, amount, merchant))
        if self.max_ts is None or ts > self.max_ts:
            self.max_ts = ts
        in_window = [(t, a, m) for (t, a, m) in self.state[card_id] if ts - self.window_s < t <= ts]
        out = {
            "count": len(in_window),
            "total_amount": math.fsum(float(a) for _, a, _ in in_window),
            "max_amount": max(a for _, a, _ in in_window),
            "distinct_merchants": len({m for _, _, m in in_window}),
        }
        self._evict()
        return out

    def _evict(self):
        horizon = self.watermark() - self.window_s
        for card in list(self.state):
            kept = [e for e in self.state[card] if e[0] > horizon]
            if kept:
                self.state[card] = kept
            else:
                del self.state[card]

    def state_size(self):
        return sum(len(v) for v in self.state.values())
