"""Task 1: event-time sliding-window features for a stream of card transactions.

Contract (the tests check exactly this):
- `SlidingWindowFeatures(window_s, allowed_lateness_s)`; `window_s <= 0` or
  `allowed_lateness_s < 0` raises ValueError.
- `process(event)`: `event` has `card_id` (str), `amount` (number), `merchant` (str) and
  `ts` (event time, epoch seconds). A missing key raises KeyError naming it; a `card_id`
  or `merchant` that is not a str, or an `amount` or `ts` that is not a finite number,
  raises ValueError. A rejected event changes nothing.
- The watermark is the greatest `ts` accepted so far minus `allowed_lateness_s`. An event
  with `ts` below the watermark is late: dropped, counted in `late_events`, and `process`
  returns None. An event exactly at the watermark is not late.
- Otherwise the event is accepted and `process` returns the card's features as of the
  event's own time over the accepted events with `ts` in `(ts - window_s, ts]`, itself
  included: `count`, `total_amount`, `max_amount`, `distinct_merchants`.
- `state_size()` is the number of events held: after every call exactly the accepted
  events with `ts > watermark - window_s`.
"""

from __future__ import annotations

import heapq
import math
import numbers
from bisect import bisect_right
from collections.abc import Mapping

def _is_number(value: object) -> bool:
    # numbers.Real: NumPy numbers (a DataFrame column's float32 or int64) are numbers too
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validated_event(event: Mapping) -> tuple[str, float, str, float]:
    """The event's four fields, or KeyError/ValueError saying what is wrong with it."""
    try:
        card_id, amount, merchant, ts = event["card_id"], event["amount"], event["merchant"], event["ts"]
    except KeyError as missing:
        raise KeyError(f"event has no {missing.args[0]!r}: {dict(event)!r}") from None
    if not isinstance(card_id, str):
        raise ValueError(f"card_id must be a str, got {card_id!r}")
    if not isinstance(merchant, str):
        raise ValueError(f"merchant must be a str, got {merchant!r}")
    if not _is_number(amount) or not math.isfinite(amount):
        raise ValueError(f"amount must be a finite number, got {amount!r}")
    if not _is_number(ts) or not math.isfinite(ts):
        raise ValueError(f"ts must be a finite number of epoch seconds, got {ts!r}")
    return card_id, amount, merchant, ts


class _Card:
    """One card's held events, sorted by event time (ties in arrival order)."""

    __slots__ = ("times", "amounts", "merchants")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.amounts: list[float] = []
        self.merchants: list[str] = []


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events.

    Each card keeps its events sorted by time, so the window of any accepted event is
    one slice found by two binary searches, whatever order the events came in. A single
    heap of all held events, oldest first, lets every call drop at once the events no
    future accepted event can see, on every card, so memory stays bounded.
    """

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if not allowed_lateness_s >= 0:
            raise ValueError(f"allowed_lateness_s must be >= 0, got {allowed_lateness_s!r}")
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.late_events = 0
        self._max_ts = -math.inf
        self._cards: dict[str, _Card] = {}
        self._oldest: list[tuple[float, str]] = []  # (ts, card_id) of every held event

    @property
    def watermark(self) -> float:
        """Greatest accepted event time minus the allowed lateness (-inf before any event)."""
        return self._max_ts - self.allowed_lateness_s

    def process(self, event: Mapping) -> dict | None:
        card_id, amount, merchant, ts = validated_event(event)
        if ts < self._max_ts - self.allowed_lateness_s:  # below the watermark
            self.late_events += 1
            return None

        card = self._cards.get(card_id)
        if card is None:
            card = self._cards[card_id] = _Card()
        at = bisect_right(card.times, ts)  # after equal times: arrival order among ties
        card.times.insert(at, ts)
        card.amounts.insert(at, amount)
        card.merchants.insert(at, merchant)
        heapq.heappush(self._oldest, (ts, card_id))
        if ts > self._max_ts:
            self._max_ts = ts

        start = bisect_right(card.times, ts - self.window_s)  # (ts - window_s, ts]
        amounts = card.amounts[start:at + 1]
        features = {
            "count": len(amounts),
            "total_amount": math.fsum(amounts),  # as Python floats: a NumPy float32 first would make sum() float32
            "max_amount": max(amounts),
            "distinct_merchants": len(set(card.merchants[start:at + 1])),
        }
        self._evict()
        return features

    def _evict(self) -> None:
        """Drop every held event with ts <= watermark - window_s: no accepted event can see it."""
        horizon = self.watermark - self.window_s
        dropped: dict[str, int] = {}
        oldest = self._oldest
        while oldest and oldest[0][0] <= horizon:
            _, card_id = heapq.heappop(oldest)
            dropped[card_id] = dropped.get(card_id, 0) + 1
        for card_id, n in dropped.items():
            card = self._cards[card_id]
            # The dropped events are this card's oldest ones: the front of its sorted lists.
            del card.times[:n], card.amounts[:n], card.merchants[:n]
            if not card.times:
                del self._cards[card_id]

    def state_size(self) -> int:
        """The number of events held (all cards)."""
        return len(self._oldest)
