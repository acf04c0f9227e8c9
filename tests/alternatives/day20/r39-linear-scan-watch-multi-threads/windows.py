"""Task 1 (style: per-card lists of event tuples, linear scans, no heap)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple


class _Ev(NamedTuple):
    ts: float
    amount: float
    merchant: str


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if math.isnan(window_s) or math.isnan(allowed_lateness_s):
            raise ValueError("NaN setting")
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self._w = window_s
        self._late = allowed_lateness_s
        self.late_events = 0
        self._top: float | None = None
        self._held: dict[str, list[_Ev]] = {}

    @staticmethod
    def _read(event: Mapping) -> _Ev | tuple:
        missing = [k for k in ("card_id", "amount", "merchant", "ts") if k not in event]
        if missing:
            raise KeyError(missing[0])
        if not isinstance(event["card_id"], str):
            raise ValueError("card_id must be a str")
        for k in ("amount", "ts"):
            if not math.isfinite(event[k]):
                raise ValueError(f"{k} must be finite")
        return event["card_id"], _Ev(event["ts"], event["amount"], event["merchant"])

    def _watermark(self):
        return None if self._top is None else self._top - self._late

    def process(self, event: Mapping) -> dict | None:
        card, ev = self._read(event)
        wm = self._watermark()
        if wm is not None and ev.ts < wm:
            self.late_events += 1
            return None
        self._held.setdefault(card, []).append(ev)
        self._top = ev.ts if self._top is None else max(self._top, ev.ts)
        lo = ev.ts - self._w
        inside = [e for e in self._held[card] if lo < e.ts <= ev.ts]
        out = {
            "count": len(inside),
            "total_amount": sum(float(e.amount) for e in inside),
            "max_amount": max(e.amount for e in inside),
            "distinct_merchants": len({e.merchant for e in inside}),
        }
        self._evict(self._watermark() - self._w)
        return out

    def _evict(self, horizon: float) -> None:
        for card in list(self._held):
            keep = [e for e in self._held[card] if e.ts > horizon]
            if keep:
                self._held[card] = keep
            else:
                del self._held[card]

    def state_size(self) -> int:
        return sum(map(len, self._held.values()))
