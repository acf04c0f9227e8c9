"""Task 1: event-time sliding-window features for a stream of card transactions.

Contract (the tests check exactly this):
- `SlidingWindowFeatures(window_s, allowed_lateness_s)`; `window_s <= 0` or
  `allowed_lateness_s < 0` raises ValueError, and so does NaN for either. Both may have
  fractions: keep them as given. Card ids and merchants are compared exactly as given.
- `process(event)`: `event` has `card_id` (str), `amount` (number, negative for a refund),
  `merchant` (str) and `ts` (event time, epoch seconds, never rounded); NumPy numbers are numbers too.
  A missing key raises KeyError naming it; a `card_id` of None, or an `amount` or `ts` that is NaN or infinite, raises
  ValueError, even when its ts is below the watermark. A rejected event changes nothing.
- The watermark is the greatest `ts` accepted so far minus `allowed_lateness_s`. An event
  with `ts` below the watermark is late: dropped, counted in `late_events`, and `process`
  returns None. An event exactly at the watermark is not late.
- Otherwise the event is accepted and `process` returns the card's features as of the
  event's own time over the accepted events with `ts` in `(ts - window_s, ts]`, itself
  included, however many (no cap per card): `count`, `total_amount`, `max_amount`, `distinct_merchants`, in a new dict
  each call (a kept result never changes). Keep the event's values, never the caller's
  mapping: a caller that refills or changes its mapping afterwards changes nothing held.
- `state_size()` is the number of events held: after every call exactly the accepted
  events with `ts > watermark - window_s`; a card with no event left is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping


class SlidingWindowFeatures:
    """Per-card window features in event time, with a watermark for late events."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        # TODO(task 1): validate both settings; start with no events, late_events = 0
        # and no watermark yet (nothing is late before the first event).
        raise NotImplementedError("task 1")

    def process(self, event: Mapping) -> dict | None:
        """The card's features as of the event's time, or None for a late event."""
        # TODO(task 1): validate the event; drop and count it if it is below the watermark;
        # else keep it, compute the card's window (ts - window_s, ts], and drop every held
        # event (any card) with ts <= new watermark - window_s.
        raise NotImplementedError("task 1")

    def state_size(self) -> int:
        """How many events are held right now (all cards)."""
        # TODO(task 1): count what you hold.
        raise NotImplementedError("task 1")
