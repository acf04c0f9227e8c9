"""Task 1: event-time sliding-window features (per-card lists, linear scans, sweep eviction)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping


def _num(value, name, *, finite=True):
    if not isinstance(value, numbers.Number) or isinstance(value, complex):
        raise ValueError(f"{name}: not a real number: {value!r}")
    try:
        x = float(value)
    except (OverflowError, TypeError, ValueError):
        raise ValueError(f"{name}: not a finite number: {value!r}") from None
    if math.isnan(x) or (finite and math.isinf(x)):
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return x


class SlidingWindowFeatures:
    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        w = _num(window_s, "window_s", finite=False)
        lat = _num(allowed_lateness_s, "allowed_lateness_s", finite=False)
        if not w > 0:
            raise ValueError("window_s must be > 0")
        if not lat >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self.window_s = w
        self.allowed_lateness_s = lat
        self.late_events = 0
        self._latest = None          # greatest accepted ts
        self._by_card: dict[str, list[tuple[float, float, object]]] = {}
        self._oldest = math.inf      # smallest ts held, to know when a sweep is due

    @property
    def watermark(self):
        return None if self._latest is None else self._latest - self.allowed_lateness_s

    def process(self, event: Mapping) -> dict | None:
        for key in ("card_id", "amount", "merchant", "ts"):
            if key not in event:
                raise KeyError(key)
        card_id = event["card_id"]
        if type(card_id) is not str and not isinstance(card_id, str):
            raise ValueError(f"card_id must be a str, not {type(card_id).__name__}")
        amount = _num(event["amount"], "amount")
        ts = _num(event["ts"], "ts")
        merchant = event["merchant"]

        wm = self.watermark
        if wm is not None and ts < wm:
            self.late_events += 1
            return None

        held = self._by_card.setdefault(card_id, [])
        held.append((ts, amount, merchant))
        if self._latest is None or ts > self._latest:
            self._latest = ts
        self._oldest = min(self._oldest, ts)

        count, total, biggest, merchants = 0, 0.0, -math.inf, set()
        for t, a, m in held:
            if ts - self.window_s < t <= ts:
                count += 1
                total += a
                if a > biggest:
                    biggest = a
                merchants.add(m)
        result = {"count": count, "total_amount": total, "max_amount": biggest,
                  "distinct_merchants": len(merchants)}

        horizon = self.watermark - self.window_s
        if self._oldest <= horizon:
            oldest = math.inf
            for cid in list(self._by_card):
                kept = [e for e in self._by_card[cid] if e[0] > horizon]
                if kept:
                    self._by_card[cid] = kept
                    oldest = min(oldest, min(e[0] for e in kept))
                else:
                    del self._by_card[cid]
            self._oldest = oldest
        return result

    def state_size(self) -> int:
        return sum(len(v) for v in self._by_card.values())
