"""Sliding-window features: plain per-card lists of event dicts, scanned every time."""

import math


class SlidingWindowFeatures:
    def __init__(self, window_s, allowed_lateness_s):
        if not window_s > 0:  # NaN too
            raise ValueError("window_s must be positive")
        if not allowed_lateness_s >= 0:  # NaN too
            raise ValueError("allowed_lateness_s must not be negative")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self.newest = None
        self.by_card = {}
        self.held = 0

    def process(self, event):
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        if not isinstance(event["card_id"], str):
            raise ValueError("card_id must be a str")
        for key in ("amount", "ts"):
            if isinstance(event[key], bool) or not math.isfinite(event[key]):
                raise ValueError(f"{key} must be finite")
        ts = event["ts"]
        if self.newest is not None and ts < self.newest - self.allowed_lateness_s:
            self.late_events += 1
            return None
        if self.newest is None or ts > self.newest:
            self.newest = ts
        mine = self.by_card.setdefault(event["card_id"], [])
        mine.append(dict(event))  # a copy: the caller may refill its mapping
        self.held += 1
        inside = [e for e in mine if ts - self.window_s < e["ts"] <= ts]
        result = {
            "count": len(inside),
            "total_amount": sum(float(e["amount"]) for e in inside),
            "max_amount": max(e["amount"] for e in inside),
            "distinct_merchants": len({e["merchant"] for e in inside}),
        }
        cutoff = self.newest - self.allowed_lateness_s - self.window_s
        for card in list(self.by_card):
            kept = [e for e in self.by_card[card] if e["ts"] > cutoff]
            self.held -= len(self.by_card[card]) - len(kept)
            if kept:
                self.by_card[card] = kept
            else:
                del self.by_card[card]
        return result

    def state_size(self):
        return self.held
