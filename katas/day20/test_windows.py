"""Task 1: sliding-window features in event time. Read these tests as the specification.

Times in these tests are whole seconds or quarters of one, or in two tests 2 ** -12 of one or one float
step (math.ulp) at a real epoch time (all exact in floating point), so any correct way of writing the
window `(ts - window_s, ts]` gives the same answer.
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from windows import SlidingWindowFeatures

pytestmark = pytest.mark.task(taskno=1)


def ev(card: str, ts: float, amount: float = 10.0, merchant: str = "m1") -> dict:
    return {"card_id": card, "amount": amount, "merchant": merchant, "ts": ts}


class Oracle:
    """The contract read literally: keep every accepted event, scan them all each time."""

    def __init__(self, window_s: float, allowed_lateness_s: float) -> None:
        self.window_s, self.lateness = window_s, allowed_lateness_s
        self.accepted: list[dict] = []
        self.max_ts = -math.inf
        self.late_events = 0

    def process(self, event: dict) -> dict | None:
        if event["ts"] < self.max_ts - self.lateness:
            self.late_events += 1
            return None
        self.accepted.append(event)
        self.max_ts = max(self.max_ts, event["ts"])
        ts = event["ts"]
        window = [e for e in self.accepted
                  if e["card_id"] == event["card_id"] and ts - self.window_s < e["ts"] <= ts]
        return {"count": len(window), "total_amount": sum(e["amount"] for e in window),
                "max_amount": max(e["amount"] for e in window),
                "distinct_merchants": len({e["merchant"] for e in window})}

    def state_size(self) -> int:
        horizon = self.max_ts - self.lateness - self.window_s
        return sum(1 for e in self.accepted if e["ts"] > horizon)


def features_of(result: dict) -> dict:
    """The four contract features of a result (other keys, if any, are not judged)."""
    return {name: result[name] for name in ("count", "total_amount", "max_amount", "distinct_merchants")}


# --- construction -------------------------------------------------------------------

@pytest.mark.parametrize("window_s, lateness", [(0, 0), (0.0, 5), (-1, 0), (60, -1), (60, -0.001),
                                              (math.nan, 0), (60, math.nan)])
def test_a_non_positive_window_or_negative_lateness_is_rejected(window_s, lateness):
    # NaN too: every comparison with NaN is False, so `window_s <= 0` lets it through, and a NaN window or
    # lateness makes no event late and none evictable (memory grows without bound): check `not window_s > 0`.
    with pytest.raises(ValueError):
        SlidingWindowFeatures(window_s, lateness)


def test_a_tiny_window_and_zero_lateness_are_allowed():
    windows = SlidingWindowFeatures(0.001, 0)
    assert features_of(windows.process(ev("a", 100))) == {
        "count": 1, "total_amount": 10.0, "max_amount": 10.0, "distinct_merchants": 1}, (
        "window_s > 0 and allowed_lateness_s == 0 are valid settings")


# --- features -----------------------------------------------------------------------

def test_the_first_event_is_its_own_window():
    windows = SlidingWindowFeatures(60, 0)
    got = windows.process(ev("a", 1000, amount=12.5, merchant="shop"))
    assert features_of(got) == {"count": 1, "total_amount": 12.5, "max_amount": 12.5, "distinct_merchants": 1}, (
        f"the event itself is in its window: count 1, its amount, one merchant; got {got}")


def test_features_sum_count_max_and_distinct_merchants_of_the_card():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, 5.0, "m1"))
    windows.process(ev("b", 101, 900.0, "m9"))
    windows.process(ev("a", 110, 7.5, "m2"))
    got = windows.process(ev("a", 120, 1.0, "m1"))
    assert features_of(got) == {"count": 3, "total_amount": pytest.approx(13.5), "max_amount": 7.5,
                                "distinct_merchants": 2}, (
        f"card a has 3 events (5.0, 7.5, 1.0) at 2 merchants in its window; card b's event is not its; got {got}")


@pytest.mark.parametrize("t0", [0, 1_700_000_000.0], ids=["small-times", "real-epoch-times"])
def test_an_event_exactly_window_s_before_is_outside_the_window(t0):
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", t0 + 100, 1.0))
    windows.process(ev("a", t0 + 101, 2.0))
    got = windows.process(ev("a", t0 + 160, 4.0))
    assert got["count"] == 2 and got["total_amount"] == pytest.approx(6.0), (
        f"the window is (ts - window_s, ts]: the event at {t0 + 160} - 60 = {t0 + 100} is out, the one at "
        f"{t0 + 101} is in (at real epoch times too, where a float step is 0.24 microseconds: a tiny epsilon "
        f"such as 1e-9 added to the start vanishes there); got {features_of(got)}")


def test_events_with_the_same_time_are_all_in_the_window():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, 1.0, "m1"))
    windows.process(ev("a", 100, 2.0, "m2"))
    got = windows.process(ev("a", 100, 3.0, "m3"))
    assert features_of(got) == {"count": 3, "total_amount": pytest.approx(6.0), "max_amount": 3.0,
                                "distinct_merchants": 3}, (
        f"three events at the same second are all at or before that second; got {features_of(got)}")


def test_identical_events_are_all_counted():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, 9.99, "m1"))
    got = windows.process(ev("a", 100, 9.99, "m1"))
    assert features_of(got) == {"count": 2, "total_amount": pytest.approx(19.98), "max_amount": 9.99,
                                "distinct_merchants": 1}, (
        "the same card charged the same amount at the same merchant in the same second twice is two events "
        f"(a double charge), not one: keep every event, never a set of them; got {features_of(got)}")
    assert windows.state_size() == 2, f"both identical events are held; got {windows.state_size()}"


def test_an_out_of_order_event_sees_only_events_up_to_its_own_time():
    windows = SlidingWindowFeatures(60, 30)
    windows.process(ev("a", 100, 1.0, "m1"))
    windows.process(ev("a", 120, 50.0, "m2"))
    got = windows.process(ev("a", 110, 2.0, "m1"))
    assert features_of(got) == {"count": 2, "total_amount": pytest.approx(3.0), "max_amount": 2.0,
                                "distinct_merchants": 1}, (
        "an event from t=110 arriving after one from t=120 gets its features as of t=110: "
        f"the later event is not in its window; got {features_of(got)}")
    later = windows.process(ev("a", 125, 4.0, "m3"))
    assert later["count"] == 4, f"the late-arriving event (accepted) counts for later events; got {features_of(later)}"


def test_a_returned_result_does_not_change_afterwards():
    windows = SlidingWindowFeatures(60, 0)
    first = windows.process(ev("a", 100, 5.0, "m1"))
    kept = dict(first)
    windows.process(ev("a", 101, 7.0, "m2"))
    assert first == kept, (
        f"the features of t=100 were {kept}; after the next event the same result reads {first}: return a new "
        "dict each time, never one object reused and updated")


def test_fractions_of_a_second_count():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100.5, 1.0))
    windows.process(ev("a", 100.75, 2.0))
    got = windows.process(ev("a", 160.5, 4.0))
    assert got["count"] == 2 and got["total_amount"] == pytest.approx(6.0), (
        "ts is a float: the window of t=160.5 is (100.5, 160.5], so the event at 100.5 is out and the one at "
        f"100.75 is in; do not round event times; got {features_of(got)}")
    assert windows.process(ev("b", 160.25)) is None, (
        "with lateness 0 an event at 160.25 is older than the newest (160.5): late")


def test_real_epoch_times_keep_every_fraction_of_a_second():
    t0, tick = 1_700_000_000, 2 ** -12  # a real epoch time; a tick is about 0.24 ms, t0 + tick is exact
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", t0 + 30, 1.0))
    got = windows.process(ev("a", t0 + 80, 2.0))
    assert got["count"] == 2, (
        "the window of t0 + 80 is (t0 + 20, t0 + 80]: the event at t0 + 30 is in it. Keep event times as "
        f"Python floats (a float32 cannot tell 1,700,000,000 from 1,700,000,030); got {features_of(got)}")
    windows.process(ev("a", t0 + 100 + tick, 4.0))
    got = windows.process(ev("a", t0 + 160, 8.0))
    assert got["count"] == 2 and got["total_amount"] == pytest.approx(12.0), (
        f"the window of t0 + 160 is (t0 + 100, t0 + 160]: the event at t0 + 100 + {tick} s is in it, the older "
        f"ones are not; never round event times, not even to milliseconds; got {features_of(got)}")
    assert windows.process(ev("b", t0 + 160 - tick)) is None, (
        f"with lateness 0 an event {tick} s older than the newest is late")


def test_event_times_one_float_step_apart_are_two_different_times():
    t0 = 1_700_000_000.0
    step = math.ulp(t0)  # 2 ** -22 s, about 0.24 microseconds: t0 + step is the next float after t0
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", t0 + 2 * step, 1.0))
    got = windows.process(ev("a", t0 + 60 + step, 2.0))
    assert got["count"] == 2 and got["total_amount"] == pytest.approx(3.0), (
        f"the window of t0 + 60 + {step} s is (t0 + {step} s, t0 + 60 + {step} s]: the event at t0 + {2 * step} s "
        "is in it, one float step after the window's start. Never round event times, not even to whole "
        f"microseconds (which makes both times t0 and t0 + 60); got {features_of(got)}")
    assert windows.process(ev("b", t0 + 60)) is None, (
        f"with lateness 0 an event one float step ({step} s) older than the newest is late: two times one float "
        "step apart are two different times")


def test_merchants_and_card_ids_are_compared_exactly_as_given():
    windows = SlidingWindowFeatures(60, 0)
    for i, merchant in enumerate(["Shop", "shop", "shop ", " shop", "SHOP"]):
        got = windows.process(ev("a", 100 + i, 1.0, merchant))
    assert features_of(got)["distinct_merchants"] == 5, (
        "'Shop', 'shop', 'shop ', ' shop' and 'SHOP' are five different merchant ids: compare merchants exactly "
        f"as given, never stripped or case-folded; got {features_of(got)}")
    for card in ("b", "B", " b", "b ", ""):
        got = windows.process(ev(card, 110, 2.0))
        assert got is not None and features_of(got)["count"] == 1, (
            f"'b', 'B', ' b', 'b ' and '' are five different cards: card {card!r} has one event in its window, its "
            "own; key cards by card_id exactly as given, never stripped or case-folded; any str is a card id, '' "
            f"included (only a card_id that is not a str is refused); got {got}")
    assert windows.state_size() == 10, (
        f"five events of card a and one of each b-like card and of card '' are held; got {windows.state_size()}")


def test_an_empty_card_id_is_a_card_like_any_other():
    windows = SlidingWindowFeatures(60, 0)
    try:
        windows.process(ev("", 100, 1.0, "m1"))
        got = windows.process(ev("", 101, 2.0, "m2"))
    except ValueError as error:
        pytest.fail(f"card_id '' is a str, so a card id like any other (only None is refused); got {error!r}")
    assert features_of(got) == {"count": 2, "total_amount": 3.0, "max_amount": 2.0, "distinct_merchants": 2}, (
        "'' is a str, so a card id like any other (only None is refused): its two events are both in the "
        f"window of the second; got {features_of(got)}")


def test_refunds_are_negative_amounts_and_count_like_any_other():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, -20.0, "m1"))
    got = windows.process(ev("a", 101, -5.0, "m2"))
    assert features_of(got) == {"count": 2, "total_amount": pytest.approx(-25.0), "max_amount": -5.0,
                                "distinct_merchants": 2}, (
        f"amounts -20.0 and -5.0 (refunds): the largest is -5.0, the total -25.0; got {features_of(got)}")
    windows.process(ev("b", 102, 0.0, "m1"))  # a $0 authorisation check, then a refund
    got = windows.process(ev("b", 103, -5.0, "m2"))
    assert features_of(got) == {"count": 2, "total_amount": pytest.approx(-5.0), "max_amount": 0.0,
                                "distinct_merchants": 2}, (
        "amounts 0.0 and -5.0: the largest is 0.0, an amount like any other (test `is None` for 'no amount yet', "
        f"never the truthiness of 0.0, or a refund after a $0 check becomes the max); got {features_of(got)}")


def test_amounts_with_any_number_of_decimals_are_summed_as_given():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, 0.004, "m1"))  # sub-cent amounts: micro-payments, an exchange-rate remainder
    windows.process(ev("a", 101, 0.003, "m2"))
    got = windows.process(ev("a", 102, 0.0015, "m3"))
    assert features_of(got) == {"count": 3, "total_amount": pytest.approx(0.0085), "max_amount": 0.004,
                                "distinct_merchants": 3}, (
        "the total is the sum of the amounts as given (0.004 + 0.003 + 0.0015 = 0.0085), never rounded to cents "
        f"or to any number of decimals; got {features_of(got)}")


def test_a_burst_of_thousands_of_events_on_one_card_is_counted_in_full():
    windows = SlidingWindowFeatures(3600, 0)
    burst = 6_000  # a card-testing bot: thousands of charges on one card inside one window
    for i in range(burst):
        got = windows.process(ev("bot", 1000 + i * 0.5, amount=1.0, merchant=f"m{i % 50}"))
    assert features_of(got) == {"count": burst, "total_amount": pytest.approx(float(burst)), "max_amount": 1.0,
                                "distinct_merchants": 50}, (
        f"all {burst} events of the card fall in the last event's window (a 3,000 s span, window 3600 s): every "
        "one of them counts. Memory is bounded by the watermark and the window, never by a cap on events per "
        f"card, which would hide exactly the bursts fraud detection is for; got {features_of(got)}")
    assert windows.state_size() == burst, f"all {burst} events can still be seen; got {windows.state_size()}"


def test_amounts_and_times_may_be_ints():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, 3))
    got = windows.process(ev("a", 101, 4))
    assert got["count"] == 2 and got["total_amount"] == pytest.approx(7) and got["max_amount"] == 4, (
        f"ints are numbers too; got {features_of(got)}")


def test_numpy_numbers_are_amounts_and_times_like_any_other():
    windows = SlidingWindowFeatures(60, 0)  # a replay read from a DataFrame: float32 amounts, int64 times
    windows.process(ev("a", np.int64(100), np.float32(2.5), "m1"))
    got = windows.process(ev("a", np.float64(101.5), np.int64(3), "m2"))
    assert got is not None and features_of(got) == {"count": 2, "total_amount": pytest.approx(5.5),
                                                    "max_amount": 3, "distinct_merchants": 2}, (
        "a numpy.float32 amount, a numpy.int64 amount and numpy times are numbers like any other: check "
        "numbers with numbers.Real or math.isfinite, never isinstance(v, (int, float)), which refuses them; "
        f"got {got if got is None else features_of(got)}")
    assert windows.process(ev("b", np.int64(101))) is None and windows.late_events == 1, (
        "with lateness 0 an event at numpy.int64(101), older than the newest 101.5, is late")


@pytest.mark.parametrize("first", [np.float32(0.25), np.float16(0.25)], ids=["float32", "float16"])
def test_a_numpy_float32_amount_does_not_make_the_total_float32(first):
    # Under NumPy 2, float32 + a Python float stays float32 (7 significant digits): summed that way, the
    # million and one cent below comes out 1000000.25, the cent lost.
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, first, "m1"))
    got = windows.process(ev("a", 101, 1_000_000.01, "m2"))
    # float() first: comparing a float32 with approx casts the expected value to float32 too, and the check passes.
    assert got is not None and float(got["total_amount"]) == pytest.approx(1_000_000.26, rel=0, abs=1e-6), (
        f"{first!r} + 1000000.01 is 1000000.26 as given; got total_amount={got and got['total_amount']!r}: sum the "
        "amounts as Python floats (float(a), or math.fsum), never in the NumPy type of the first one")


def test_a_caller_reusing_its_event_mapping_changes_nothing_processed():
    windows = SlidingWindowFeatures(60, 0)
    record = ev("a", 100, 5.0, "m1")  # a stream consumer that refills one record object for every message
    windows.process(record)
    record.update(amount=7.0, merchant="m2", ts=101)
    got = windows.process(record)
    assert features_of(got) == {"count": 2, "total_amount": pytest.approx(12.0), "max_amount": 7.0,
                                "distinct_merchants": 2}, (
        "the first event was (t=100, 5.0, m1), the second (t=101, 7.0, m2): keep the event's values, not the "
        "caller's mapping, or refilling the record rewrites the events already held; "
        f"got {features_of(got)}")
    record.update(amount=1000.0, merchant="m3", ts=50)
    got = windows.process(ev("a", 102, 1.0, "m1"))
    assert features_of(got) == {"count": 3, "total_amount": pytest.approx(13.0), "max_amount": 7.0,
                                "distinct_merchants": 2}, (
        "changing the record after process() returned must not change the held events (t=100 and t=101, "
        f"amounts 5.0 and 7.0); got {features_of(got)}")
    assert windows.state_size() == 3, f"three events are held; got {windows.state_size()}"


# --- watermark and lateness ----------------------------------------------------------

def test_an_event_exactly_at_the_watermark_is_accepted():
    windows = SlidingWindowFeatures(600, 30)
    windows.process(ev("a", 1000))
    got = windows.process(ev("a", 970, amount=1.0))
    assert got is not None, "watermark = 1000 - 30 = 970: an event at 970 is not below it, so not late"
    assert windows.late_events == 0, "an event at the watermark is not late"


def test_an_event_below_the_watermark_is_late_dropped_and_counted():
    windows = SlidingWindowFeatures(600, 30)
    windows.process(ev("a", 1000, amount=1.0))
    assert windows.process(ev("a", 969, amount=500.0)) is None, "969 < 1000 - 30: late, process returns None"
    assert windows.late_events == 1, f"one late event should be counted, got {windows.late_events}"
    assert windows.process(ev("b", 969.5)) is None, "late for every card: the watermark is global"
    assert windows.late_events == 2, f"two late events should be counted, got {windows.late_events}"
    got = windows.process(ev("a", 1001, amount=2.0))
    assert got["count"] == 2 and got["max_amount"] == 2.0, (
        f"a dropped late event must not appear in later features; got {features_of(got)}")


def test_late_events_starts_at_zero_and_counts_only_late_events():
    windows = SlidingWindowFeatures(60, 10)
    assert windows.late_events == 0, "no event yet, none late"
    for ts in (100, 95, 90, 200, 191, 189):
        windows.process(ev("a", ts))
    assert windows.late_events == 1, (
        f"only 189 fell below a watermark (200 - 10); 95, 90 and 191 were within the lateness; got {windows.late_events}")


def test_a_fractional_lateness_and_window_are_kept_as_given():
    windows = SlidingWindowFeatures(2.5, 1.5)
    windows.process(ev("a", 100, 1.0))
    assert windows.process(ev("a", 98.5, 2.0)) is not None, (
        "watermark = 100 - 1.5 = 98.5: an event at 98.5 is exactly at it, not late (never round the lateness to "
        "whole seconds)")
    assert windows.process(ev("a", 98.25)) is None and windows.late_events == 1, (
        "98.25 is below the watermark 98.5: late")
    got = windows.process(ev("a", 100.75, 4.0))
    assert got["count"] == 3 and got["total_amount"] == pytest.approx(7.0), (
        "the window of t=100.75 with window_s=2.5 is (98.25, 100.75]: the events at 98.5, 100 and 100.75 are all "
        f"in it (never round the window to whole seconds); got {features_of(got)}")


def test_with_zero_lateness_any_event_older_than_the_newest_is_late():
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100))
    assert windows.process(ev("b", 100)) is not None, "an event at the newest time is at the watermark: accepted"
    assert windows.process(ev("b", 99.5)) is None, "with lateness 0, anything older than the newest event is late"


def test_a_stream_whose_clock_starts_at_zero_has_a_watermark_from_its_first_event():
    windows = SlidingWindowFeatures(60, 5)
    windows.process(ev("a", 0.0))  # a replay or a simulation whose clock starts at 0
    assert windows.process(ev("b", -6.0)) is None and windows.late_events == 1, (
        "the newest time so far is 0.0, so the watermark is 0.0 - 5 = -5.0 and an event at -6.0 is late: a newest "
        "time of 0 is a time like any other (test `is None` for 'no event yet', never the truthiness of 0.0)")
    assert windows.process(ev("b", -5.0)) is not None, "-5.0 is exactly at the watermark (0.0 - 5): accepted"


@pytest.mark.parametrize("lateness, newest, late_card, late_ts", [(0, 0.0, "a", -1.0), (5, 5.0, "b", -0.5)],
                         ids=["lateness-0-newest-0", "lateness-5-newest-5"])
def test_a_watermark_of_exactly_zero_still_drops_late_events(lateness, newest, late_card, late_ts):
    windows = SlidingWindowFeatures(60, lateness)
    windows.process(ev("a", newest))
    got = windows.process(ev(late_card, late_ts))
    assert got is None and windows.late_events == 1, (
        f"the newest time is {newest} and the lateness {lateness}, so the watermark is exactly 0.0 and an event at "
        f"{late_ts} is late (None, late_events 1): a watermark of 0.0 is a watermark like any other (test `is None` "
        f"for 'no watermark yet', never the truthiness of 0.0); got {got}, late_events {windows.late_events}")
    assert windows.state_size() == 1, (
        f"a late event is not held: only the event at {newest} is; got state_size() {windows.state_size()}")
    got = windows.process(ev("b", 0.0))
    assert got is not None and windows.late_events == 1, (
        f"an event at 0.0 is exactly at the watermark ({newest} - {lateness} = 0.0): accepted, not late; got {got}, "
        f"late_events {windows.late_events}")


def test_before_the_first_event_nothing_is_late_whatever_its_time():
    windows = SlidingWindowFeatures(60, 5)
    got = windows.process(ev("a", -100.0))  # a simulation clock counting up to 0, or a time before 1970
    assert got is not None and got["count"] == 1 and windows.late_events == 0, (
        "before the first event there is no watermark, so the first event is never late, even at a negative time "
        f"(start with 'no newest time yet', never with a newest time of 0.0); got {got}")
    assert windows.process(ev("a", -104.0)) is not None, (
        "the newest time is -100.0, so the watermark is -105.0 and an event at -104.0 is accepted")
    assert windows.process(ev("a", -106.0)) is None and windows.late_events == 1, (
        "the watermark is -100.0 - 5 = -105.0: an event at -106.0 is late")


def test_the_watermark_only_moves_forward():
    windows = SlidingWindowFeatures(60, 10)
    windows.process(ev("a", 100))
    windows.process(ev("a", 95))
    assert windows.process(ev("a", 89)) is None, "the watermark is 100 - 10 even after an older event was accepted"
    assert windows.process(ev("a", 90)) is not None, "90 is exactly at the watermark (100 - 10): accepted"


# --- state ------------------------------------------------------------------------------

def test_state_size_counts_the_events_a_future_event_could_still_see():
    windows = SlidingWindowFeatures(60, 10)
    assert windows.state_size() == 0, "nothing held before the first event"
    windows.process(ev("a", 100))
    windows.process(ev("b", 125))
    assert windows.state_size() == 2, "watermark 115, horizon 55: both events could still be in a window"
    windows.process(ev("c", 170))
    assert windows.state_size() == 2, (
        "watermark 160, horizon 100: the event at 100 can never again be in a window (a future event is at "
        f"160 or later, its window starts after 100), so it is dropped; got {windows.state_size()}")


def test_an_event_exactly_at_the_horizon_is_dropped_on_every_card():
    windows = SlidingWindowFeatures(60, 10)
    windows.process(ev("a", 100))
    windows.process(ev("a", 101))
    windows.process(ev("b", 169))
    assert windows.state_size() == 3, (
        f"watermark 159, horizon 99: all three events are newer than the horizon; got {windows.state_size()}")
    windows.process(ev("c", 170))
    assert windows.state_size() == 3, (
        "watermark 160, horizon 100: card a's event at exactly 100 can no longer be in any window and must "
        f"be dropped even though card a had no new event; got {windows.state_size()}")
    windows.process(ev("c", 171))
    assert windows.state_size() == 3, (
        f"horizon 101: card a's event at 101 goes too, c's second event arrives; got {windows.state_size()}")
    got = windows.process(ev("a", 161))
    assert got["count"] == 1, f"card a's old events were outside the window of t=161 anyway; got {features_of(got)}"


def test_the_oldest_event_is_dropped_not_the_first_to_arrive():
    windows = SlidingWindowFeatures(10, 5)
    windows.process(ev("a", 100, 1.0))
    windows.process(ev("a", 96, 2.0))  # arrives second but is older (within the lateness)
    windows.process(ev("b", 107))
    windows.process(ev("b", 111))  # watermark 106, horizon 96: card a's event at 96 goes, its event at 100 stays
    assert windows.state_size() == 3, f"held: a@100, b@107, b@111; got {windows.state_size()}"
    got = windows.process(ev("a", 108, 4.0))
    assert got["count"] == 2 and got["total_amount"] == pytest.approx(5.0), (
        "the window of t=108 is (98, 108]: card a's event at 100 is in it. Eviction drops the card's OLDEST "
        f"event (t=96), not the one that arrived first (t=100); got {features_of(got)}")


def test_a_late_event_is_not_held():
    windows = SlidingWindowFeatures(600, 5)
    windows.process(ev("a", 1000))
    windows.process(ev("a", 900))
    assert windows.state_size() == 1, f"a late event is dropped, not kept; got {windows.state_size()}"


def test_state_stays_bounded_on_a_long_stream():
    windows = SlidingWindowFeatures(window_s=10, allowed_lateness_s=5)
    most = 0
    for i in range(5_000):  # every card comes back ten times, long after its last window closed
        windows.process(ev(f"card{i % 500}", float(i), merchant=f"m{i % 7}"))
        most = max(most, windows.state_size())
    assert windows.state_size() == 15, (
        f"one event a second, window 10 s, lateness 5 s: exactly 15 events can still be seen; got {windows.state_size()}")
    assert most <= 15, f"state must never grow past what a future event can see; peaked at {most}"


def test_memory_stays_bounded_when_every_event_is_a_new_card():
    windows = SlidingWindowFeatures(window_s=10, allowed_lateness_s=5)

    def feed(start: int, stop: int) -> None:
        for i in range(start, stop):
            windows.process(ev(f"card{i}", float(i)))
            if i % 2 and i >= 1_000:  # every other second a late event (watermark i - 5) of a new card
                windows.process(ev(f"late{i}", float(i - 10)))

    feed(0, 500)
    tracemalloc.start()
    try:
        feed(500, 1_000)
        before = tracemalloc.get_traced_memory()[0]
        feed(1_000, 3_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert windows.state_size() == 15, f"15 events can still be seen; got {windows.state_size()}"
    assert windows.late_events == 1_000, f"1,000 late events were sent; got {windows.late_events}"
    assert grown < 50_000, (  # a card kept by mistake keeps at least its id, a 57-byte string: 57,000 bytes or more
        f"2,000 more events, each for a card never seen again, and 1,000 late events of new cards grew memory by "
        f"{grown:,} bytes: a card whose last event was dropped must be forgotten too (delete its empty entry), and "
        "a late event must leave no entry behind (check lateness before creating the card's state), or memory "
        "grows without bound")


def test_rejected_events_of_new_cards_leave_nothing_behind():
    windows = SlidingWindowFeatures(window_s=10, allowed_lateness_s=5)
    windows.process(ev("a", 100))
    bad_values = [("amount", math.nan), ("ts", math.inf), ("amount", -math.inf), ("ts", math.nan)]

    def reject(start: int, stop: int) -> None:
        for i in range(start, stop):  # each a card never seen before, on time if it were valid
            event = ev(f"card{i:08d}", 101.0)
            field, value = bad_values[i % len(bad_values)]
            event[field] = value
            with pytest.raises(ValueError):
                windows.process(event)

    reject(0, 200)  # warm-up: caches and free lists exist before memory is measured
    tracemalloc.start()
    try:
        gc.collect()  # a raised exception's traceback is a reference cycle: garbage, not state
        before = tracemalloc.get_traced_memory()[0]
        reject(200, 2_200)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert (windows.state_size(), windows.late_events) == (1, 0), (
        f"rejected events are neither held nor late; got state_size() {windows.state_size()}, late_events "
        f"{windows.late_events}")
    assert grown < 50_000, (  # an empty entry kept per card holds at least its id, a 61-byte string: 122,000 bytes
        f"2,000 rejected events, each of a card never seen before, grew memory by {grown:,} bytes: a rejected "
        "event changes nothing, so it creates no entry for its card either (validate the whole event before "
        "touching any state, or remove what you created before raising)")


# --- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["card_id", "amount", "merchant", "ts"])
def test_an_event_without_a_key_raises_key_error_naming_it(missing):
    windows = SlidingWindowFeatures(60, 0)
    event = ev("a", 100)
    del event[missing]
    with pytest.raises(KeyError, match=missing):
        windows.process(event)


@pytest.mark.parametrize("missing", ["card_id", "amount", "merchant"])
def test_an_on_time_event_without_a_key_changes_nothing(missing):
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, amount=1.0))
    event = ev("a", 110, amount=2.0)  # newer than anything seen: it would move the watermark if accepted
    del event[missing]
    with pytest.raises(KeyError, match=missing):
        windows.process(event)
    assert windows.state_size() == 1, (
        f"an event without {missing!r} is rejected and must not be held; got state_size() {windows.state_size()}")
    got = windows.process(ev("a", 100, amount=4.0))
    assert got is not None and features_of(got)["count"] == 2, (
        f"an event without {missing!r} must not move the watermark (to 110) nor count in a window: check all four "
        f"keys before touching any state; got {got}")


@pytest.mark.parametrize("missing", ["card_id", "amount", "merchant"])
def test_a_late_event_without_a_key_still_raises_key_error(missing):
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, amount=1.0))
    event = ev("a", 50, amount=2.0)  # below the watermark (100): late if it were valid
    del event[missing]
    with pytest.raises(KeyError, match=missing):
        windows.process(event)
    assert windows.late_events == 0, (
        f"an event without {missing!r} is rejected (KeyError), even when its time is below the watermark: "
        "check all four keys before the lateness check; a rejected event is not a late event")


BAD_VALUES = [
    ("amount", math.nan), ("amount", math.inf), ("amount", -math.inf), ("ts", math.nan), ("ts", math.inf),
    ("ts", -math.inf), ("card_id", None),
    # NumPy numbers too (a float32 column): numpy.float32 is no Python float, so an isinstance(v, float) guard lets it by
    ("amount", np.float32("nan")), ("amount", np.float32("inf")), ("ts", np.float32("nan")),
]


@pytest.mark.parametrize("field, value", BAD_VALUES)
def test_a_bad_value_raises_value_error_and_changes_nothing(field, value):
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, amount=1.0))
    event = ev("a", 110, amount=2.0)
    event[field] = value
    with pytest.raises(ValueError):
        windows.process(event)
    assert windows.late_events == 0, "a rejected event is not a late event"
    assert windows.state_size() == 1, "a rejected event must not be held"
    got = windows.process(ev("a", 100, amount=4.0))
    assert got is not None and got["count"] == 2, (
        f"a rejected event must not move the watermark nor count in a window; got {got}")


@pytest.mark.parametrize("field, value", [(f, v) for f, v in BAD_VALUES if f != "ts"])
def test_a_bad_value_on_a_late_event_still_raises_value_error(field, value):
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100, amount=1.0))
    event = ev("a", 50, amount=2.0)  # below the watermark (100): late if it were valid
    event[field] = value
    with pytest.raises(ValueError):
        windows.process(event)
    assert windows.late_events == 0, (
        "an event with a bad value is rejected (ValueError), even when its time is below the watermark: "
        "validate before the lateness check; a rejected event is not a late event")


@pytest.mark.parametrize("card_id", [123, b"c1"], ids=["int", "bytes"])
def test_a_card_id_that_is_not_a_str_is_refused(card_id):
    windows = SlidingWindowFeatures(60, 0)
    windows.process(ev("a", 100))
    for ts, when in ((101, "on time"), (50, "late")):  # 50 is below the watermark (100)
        try:
            got = windows.process(ev(card_id, ts))
        except ValueError:
            continue
        except Exception as error:
            pytest.fail(f"only a str is a card id: an {when} event with card_id {card_id!r} raises ValueError; "
                        f"got {error!r}")
        pytest.fail(f"only a str is a card id: an {when} event with card_id {card_id!r} raises ValueError (check "
                    f"isinstance(card_id, str), not only `is None`); process returned {got}")
    assert (windows.state_size(), windows.late_events) == (1, 0), (
        f"a refused event is neither held nor late; got state_size() {windows.state_size()}, late_events "
        f"{windows.late_events}")
    got = windows.process(ev("a", 100))
    assert got is not None and got["count"] == 2, (
        f"a refused event must not move the watermark (to 101): an event of card 'a' at 100 is still on time; "
        f"got {got}")


# --- the contract, fuzzed ---------------------------------------------------------------

CARDS, MERCHANTS = "abc", ("m1", "m2", "m3")
STEPS, AMOUNTS = range(-6, 5), range(-8, 41)  # seconds between events; amounts in quarters
EVENT_CODES = len(STEPS) * len(CARDS) * len(AMOUNTS) * len(MERCHANTS)


def decode(drawn: bytes) -> list[dict]:
    """Two drawn bytes per event, all drawn at once (a fraction of the cost of a draw per event
    or per field): its time step, card, amount and merchant, as digits of mixed bases."""
    ts, events = 1000, []
    for i in range(0, len(drawn), 2):
        code = int.from_bytes(drawn[i:i + 2], "big") % EVENT_CODES
        code, step = divmod(code, len(STEPS))
        code, card = divmod(code, len(CARDS))
        merchant, amount = divmod(code, len(AMOUNTS))
        ts += STEPS[step]
        events.append(ev(CARDS[card], float(ts), amount=AMOUNTS[amount] / 4, merchant=MERCHANTS[merchant]))
    return events


def streams():
    """Event times drifting forward with jumps back: out of order, late, ties, boundaries, refunds."""
    drawn = st.integers(1, 40).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n))
    return st.tuples(st.sampled_from([1, 3, 5, 10]), st.sampled_from([0, 1, 2, 5]), drawn.map(decode))


@settings(max_examples=90)
@given(streams())
def test_matches_a_brute_force_reading_of_the_contract(stream):
    window_s, lateness, events = stream
    windows, oracle = SlidingWindowFeatures(window_s, lateness), Oracle(window_s, lateness)
    for i, event in enumerate(events):
        got, want = windows.process(dict(event)), oracle.process(event)
        where = f"event {i} {event} (window_s={window_s}, lateness={lateness})"
        if want is None:
            assert got is None, f"{where} is below the watermark: expected None, got {got}"
        else:
            assert got is not None, f"{where} is not late: expected features {want}, got None"
            assert features_of(got) == {**want, "total_amount": pytest.approx(want["total_amount"])}, (
                f"{where}: expected {want}, got {features_of(got)}")
        assert windows.late_events == oracle.late_events, (
            f"after {where}: late_events should be {oracle.late_events}, got {windows.late_events}")
        assert windows.state_size() == oracle.state_size(), (
            f"after {where}: state_size() should be exactly {oracle.state_size()} (accepted events with "
            f"ts > watermark - window_s), got {windows.state_size()}")
