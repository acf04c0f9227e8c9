"""Day 12, task 3: back-of-envelope capacity planning. Read these tests as the specification.

Most exact-boundary cases use headroom 0 or 0.5, where every reasonable way of writing the
formula gives exactly the same float; the exact fits at the default 0.3 headroom pin the formula's
one division by the product (two divisions in turn leave float noise that rounds up to one more).
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from capacity import latency_budget_ms, peak_qps, replica_qps, replicas_needed, storage_bytes

pytestmark = pytest.mark.task(taskno=3)


def test_peak_qps_is_the_mean_rate_times_the_peak_ratio():
    assert peak_qps(8_640_000, 3.0) == pytest.approx(300.0), (
        "8,640,000 requests a day is 100 per second on average; a 3x peak makes 300"
    )


def test_peak_qps_defaults_to_a_three_times_peak():
    assert peak_qps(86_400) == pytest.approx(3.0), "86,400 requests a day with the default 3x peak is 3 QPS"


@pytest.mark.parametrize(
    "requests_per_day, peak_to_mean",
    [(0, 3.0), (-86_400, 3.0), (86_400, 0.5), (86_400, 0.0), (86_400, -2.0)],
)
def test_peak_qps_rejects_no_traffic_and_a_peak_below_the_mean(requests_per_day, peak_to_mean):
    with pytest.raises(ValueError):
        peak_qps(requests_per_day, peak_to_mean)


def test_peak_qps_is_not_rounded_for_light_traffic():
    assert peak_qps(100, 3.0) == pytest.approx(100 / 86_400 * 3), (
        "100 requests a day at a 3x peak is about 0.00347 QPS: return the exact rate, not a rounded one "
        "(rounded to two decimals it becomes 0 and the rest of the plan breaks)"
    )


def test_less_than_one_request_a_day_is_still_traffic():
    assert peak_qps(0.5, 2.0) == pytest.approx(0.5 / 86_400 * 2), (
        "0.5 requests a day (one every other day) is more than 0, so it is traffic: 0.5 / 86,400 x 2 QPS, "
        "not a ValueError"
    )


def test_a_huge_but_finite_forecast_gives_a_finite_rate():
    got = peak_qps(1e308, 3.0)
    assert got == pytest.approx(1e308 / 86_400 * 3), (
        f"1e308 requests a day (finite: floats go up to about 1.8e308) at a 3x peak is about 3.47e303 QPS, got "
        f"{got!r}: divide by 86,400 before multiplying by the peak ratio, as the formula reads; 1e308 x 3 first "
        f"overflows to inf"
    )


def test_a_peak_equal_to_the_mean_is_allowed():
    assert peak_qps(86_400, 1.0) == pytest.approx(1.0), "perfectly flat traffic has its peak at the mean"


def test_latency_budget_is_what_the_other_hops_leave():
    assert latency_budget_ms(200.0, [20.0, 30.5, 0.0]) == pytest.approx(149.5), (
        "a 200 ms p99 target minus hops of 20, 30.5 and 0 ms leaves 149.5 ms for the model"
    )


def test_latency_budget_with_no_other_hops_is_the_whole_target():
    assert latency_budget_ms(120.0, []) == pytest.approx(120.0), "with no other hops the model gets the whole target"


def test_latency_budget_takes_the_hops_as_a_numpy_column():
    assert latency_budget_ms(200.0, np.array([20.0, 30.5, 0.0])) == pytest.approx(149.5), (
        "the hops may come as a NumPy array (a column of a DataFrame): 200 - (20 + 30.5 + 0) leaves 149.5 ms "
        "(`if not hops` raises for an array of more than one element)")
    assert latency_budget_ms(120.0, np.array([])) == pytest.approx(120.0), (
        "an empty array of hops leaves the whole target")


@pytest.mark.parametrize(
    "target, hops",
    [(0.0, []), (-50.0, []), (200.0, [-10.0]), (200.0, [-0.5]), (200.0, [30.0, -10.0]), (200.0, [150.0, 50.0]),
     (200.0, [250.0])],
    ids=["zero_target", "negative_target", "negative_hop", "negative_hop_under_one_ms",
         "negative_hop_outweighed_by_another", "budget_exactly_spent", "budget_overspent"],
)
def test_latency_budget_rejects_bad_inputs_and_a_spent_budget(target, hops):
    with pytest.raises(ValueError):
        latency_budget_ms(target, hops)


def test_a_budget_under_one_millisecond_is_still_a_budget():
    assert latency_budget_ms(200.0, [199.5]) == pytest.approx(0.5), (
        "a 200 ms target minus a 199.5 ms hop leaves 0.5 ms: tight, but more than 0, so it is returned, not refused"
    )


def test_replica_throughput_follows_littles_law():
    assert replica_qps(4, 40.0) == pytest.approx(100.0), (
        "4 workers each busy 40 ms per request serve 4 / 0.040 s = 100 requests per second"
    )
    assert replica_qps(1, 8.0) == pytest.approx(125.0), "one worker at 8 ms per request serves 125 per second"
    assert replica_qps(4, 30.0) == pytest.approx(133.333, abs=0.001), (
        "4 workers at 30 ms serve 133.33 per second: throughput is not rounded down"
    )


@pytest.mark.parametrize("workers, latency", [(0, 40.0), (0.5, 40.0), (-2, 40.0), (4, 0.0), (4, -5.0)])
def test_replica_throughput_rejects_zero_or_negative_inputs(workers, latency):
    with pytest.raises(ValueError):
        replica_qps(workers, latency)


@pytest.mark.parametrize("workers, latency, expected", [(2.5, 40.0, 62.5), (1.5, 8.0, 187.5)], ids=["2.5", "1.5"])
def test_a_fractional_worker_count_is_refused_or_counted_as_it_is(workers, latency, expected):
    try:
        got = replica_qps(workers, latency)
    except ValueError:
        return  # refusing a fractional number of workers is fine
    assert got == pytest.approx(expected), (
        f"replica_qps({workers}, {latency}) either raises ValueError or counts the {workers} workers as they are: "
        f"{workers} x 1000 / {latency} = {expected:g} QPS; got {got!r}. Rounding the workers down to a whole number "
        f"first (int({workers}) is {int(workers)}) plans a replica for less throughput than it was given"
    )


def test_replicas_round_up_never_to_the_nearest():
    got = replicas_needed(120.0, 100.0, headroom=0.0, min_replicas=1)
    assert got == 2 and type(got) is int, (
        f"120 QPS at 100 QPS per replica needs 2 replicas (an int: replicas are whole machines): "
        f"1.2 rounds up, never down; got {got!r}"
    )
    got = replicas_needed(347.0, 100.0)
    assert got == 5 and type(got) is int, f"347 QPS at 70 usable QPS per replica is 5 replicas, an int; got {got!r}"
    assert replicas_needed(101.0, 100.0, headroom=0.0, min_replicas=1) == 2, "101 QPS needs 2 replicas, not 1"


def test_an_exact_fit_needs_no_extra_replica():
    assert replicas_needed(200.0, 100.0, headroom=0.0, min_replicas=1) == 2, (
        "200 QPS at exactly 100 QPS per replica fits on 2 replicas"
    )
    assert replicas_needed(300.0, 100.0, headroom=0.0, min_replicas=1) == 3, (
        "300 QPS at exactly 100 QPS per replica fits on 3 replicas (round(x + 0.5) would say 4)"
    )
    assert replicas_needed(150.0, 100.0, headroom=0.5, min_replicas=1) == 3, (
        "150 QPS at 50 usable QPS per replica fits exactly on 3 replicas"
    )


@pytest.mark.parametrize("peak, expected", [(210.0, 3), (490.0, 7), (840.0, 12)])
def test_an_exact_fit_at_the_default_headroom_needs_no_extra_replica(peak, expected):
    got = replicas_needed(peak, 100.0, min_replicas=1)
    assert got == expected, (
        f"{peak} QPS on 100 QPS replicas at 30% headroom (70 usable QPS each) fits exactly on {expected} replicas; "
        f"got {got!r}. Divide once by the product qps_per_replica * (1 - headroom): dividing by each factor in turn "
        f"({peak} / 100 / 0.7) leaves float noise just above {expected} that rounds up to one replica more"
    )


def test_a_load_a_sliver_over_a_whole_number_of_replicas_still_needs_one_more():
    assert replicas_needed(100.01, 100.0, headroom=0.0, min_replicas=1) == 2, (
        "100.01 QPS is more than one 100 QPS replica can take, so it needs 2: round up however small the excess "
        "(rounding the ratio 1.0001 to a few decimals before the ceiling, to hide float noise, gives 1)"
    )
    assert replicas_needed(350.1, 100.0, min_replicas=1) == 6, (
        "350.1 QPS at 70 usable QPS per replica is 5.0014 replicas, so 6: five would run above the 70% cap"
    )


def test_a_load_a_hair_over_one_replica_still_needs_two():
    got = replicas_needed(100.00000001, 100.0, headroom=0.0, min_replicas=1)
    assert got == 2, (
        f"100.00000001 QPS is more than one 100 QPS replica can take, so it needs 2 replicas, got {got!r}: round up "
        f"however small the excess. Subtracting an epsilon before the ceiling (ceil(ratio - 1e-9)) or treating a "
        f"ratio within math.isclose of a whole number as that number hides real load, not just float noise"
    )


def test_a_load_a_hundred_billionth_over_one_replica_still_needs_two():
    got = replicas_needed(100.00000000001, 100.0, headroom=0.0, min_replicas=1)
    assert got == 2, (
        f"100.00000000001 QPS is more than one 100 QPS replica can take, so it needs 2 replicas, got {got!r}: the "
        f"ratio 1.0000000000001 is plainly above 1 in a float, so round it up as it is. A smaller epsilon before the "
        f"ceiling (ceil(ratio - 1e-12)) still hides real load"
    )


def test_a_load_one_float_step_over_one_replica_still_needs_two():
    load = math.nextafter(100.0, math.inf)   # 100.00000000000001, the next float above 100
    got = replicas_needed(load, 100.0, headroom=0.0, min_replicas=1)
    assert got == 2, (
        f"{load!r} QPS is more than one 100 QPS replica can take (the ratio is 1.0000000000000002, one float step "
        f"above 1), so it needs 2 replicas, got {got!r}: round up however small the excess. Even machine epsilon "
        f"(ceil(ratio - sys.float_info.epsilon)) or a round(ratio, 15) before the ceiling hides real load"
    )


@pytest.mark.parametrize(
    "peak, per_replica, headroom",
    [(np.float32(100.0), 99.999999, 0.0), (100.000001, np.float32(100.0), 0.0),
     (100.000001, 100.0, np.float32(0.0))],
    ids=["float32_peak", "float32_throughput", "float32_headroom"],
)
def test_a_numpy_float32_input_is_not_divided_in_float32(peak, per_replica, headroom):
    try:
        got = replicas_needed(peak, per_replica, headroom=headroom, min_replicas=1)
    except ValueError:
        return  # refusing numpy numbers is fine too
    assert got == 2 and type(got) is int, (
        f"{float(peak)!r} QPS on replicas of {float(per_replica)!r} QPS at headroom {float(headroom)!r} (one given "
        f"as a np.float32, as read from a "
        f"DataFrame) is a ratio of 1.00000001, so 2 replicas, a plain int, or a ValueError; got {got!r}. Divided as "
        f"they come, numpy casts the Python float next to a float32 to float32 too, where it rounds to exactly 100 "
        f"and the ratio to exactly 1: turn numpy floats into Python floats (float(x)) before the arithmetic"
    )


def test_headroom_caps_how_busy_each_replica_may_run():
    assert replicas_needed(300.0, 100.0, headroom=0.5, min_replicas=1) == 6, (
        "with 50% headroom each replica takes at most 50 QPS, so 300 QPS needs 6 replicas "
        "(adding 50% to the load instead would give only 5)"
    )


def test_default_headroom_is_thirty_percent():
    assert replicas_needed(347.0, 100.0, min_replicas=1) == 5, (
        "with the default 30% headroom a replica takes at most 70 QPS: 347 / 70 = 4.96, so 5 replicas"
    )
    assert replicas_needed(141.0, 100.0, min_replicas=1) == 3, (
        "141 QPS at 70 usable QPS per replica is 2.01, so 3 replicas"
    )


def test_light_traffic_still_gets_the_minimum_replicas():
    assert replicas_needed(10.0, 100.0) == 2, "the default floor is 2 replicas, so one can fail or be rolled"
    assert replicas_needed(10.0, 100.0, min_replicas=3) == 3, "min_replicas=3 should be respected"
    assert replicas_needed(10.0, 100.0, min_replicas=1) == 1, "with min_replicas=1 a light load fits on 1 replica"


@pytest.mark.parametrize("floor", [3.0, np.float32(3.0), np.float64(3.0)], ids=["float", "float32", "float64"])
def test_a_float_floor_still_gives_a_whole_number_of_replicas(floor):
    try:
        got = replicas_needed(10.0, 100.0, min_replicas=floor)
    except ValueError:
        return  # refusing a float floor is fine too
    assert got == 3 and type(got) is int, (
        f"min_replicas={floor!r} (as read from a YAML or JSON config, or a float32 column) either raises ValueError "
        f"or gives the plain int 3; got {got!r} of type {type(got).__name__}: replicas are whole machines, never echo "
        f"the float back (a np.float32 is not a Python float: a check on isinstance(x, float) lets it through as it is)"
    )


@pytest.mark.parametrize("integer", [np.int64, np.int32], ids=["int64", "int32"])
def test_a_numpy_integer_floor_still_gives_a_plain_int(integer):
    try:
        got = replicas_needed(10.0, 100.0, min_replicas=integer(3))
    except ValueError:
        return  # refusing a floor that is not a Python int is fine too
    assert got == 3 and type(got) is int, (
        f"min_replicas={integer.__name__}(3) (as read from a numpy array or a DataFrame) either raises ValueError or "
        f"gives the plain int 3; got {got!r} of type {type(got).__name__}: echoing the floor back as given leaks a "
        f"numpy integer, which json.dumps refuses"
    )


@pytest.mark.parametrize("floor, rounded_up", [(2.5, 3), (1.5, 2), (np.float32(2.5), 3)], ids=["2.5", "1.5", "float32_2.5"])
def test_a_fractional_floor_is_refused_or_rounded_up(floor, rounded_up):
    try:
        got = replicas_needed(10.0, 100.0, min_replicas=floor)
    except ValueError:
        return  # refusing a fractional floor is fine
    assert got == rounded_up and type(got) is int, (
        f"min_replicas={floor!r} either raises ValueError or gives {rounded_up} replicas (a plain int): the floor is a "
        f"floor, so a fraction of a replica rounds up, never down, and never comes back as it was given; got {got!r} "
        f"of type {type(got).__name__}"
    )


def test_the_floor_does_not_cap_a_heavy_load():
    assert replicas_needed(1_000.0, 100.0, headroom=0.5, min_replicas=2) == 20, (
        "1,000 QPS at 50 usable QPS per replica needs 20 replicas; the floor of 2 changes nothing"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(peak_qps=0.0, qps_per_replica=100.0),
        dict(peak_qps=-5.0, qps_per_replica=100.0),
        dict(peak_qps=50.0, qps_per_replica=0.0),
        dict(peak_qps=50.0, qps_per_replica=-100.0),
        dict(peak_qps=50.0, qps_per_replica=100.0, headroom=1.0),
        dict(peak_qps=50.0, qps_per_replica=100.0, headroom=1.5),
        dict(peak_qps=50.0, qps_per_replica=100.0, headroom=-0.1),
        dict(peak_qps=50.0, qps_per_replica=100.0, min_replicas=0),
        dict(peak_qps=50.0, qps_per_replica=100.0, min_replicas=0.5),
    ],
    ids=["zero_qps", "negative_qps", "zero_throughput", "negative_throughput",
         "full_headroom", "headroom_above_one", "negative_headroom", "zero_min_replicas", "min_replicas_below_one"],
)
def test_replicas_needed_rejects_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        replicas_needed(**kwargs)


def test_storage_multiplies_volume_retention_and_replicas():
    assert storage_bytes(1_000_000, 50, 90, replication=3) == 13_500_000_000, (
        "1M events/day × 50 bytes × 90 days × 3 replicas = 13.5 GB"
    )
    assert storage_bytes(1_000, 10, 7) == 210_000, "the default replication is 3: 1,000 × 10 × 7 × 3"


def test_storage_rounds_up_to_whole_bytes():
    got = storage_bytes(3, 0.5, 1, replication=1)
    assert got == 2 and isinstance(got, int), f"3 events × 0.5 bytes is 1.5 bytes, which needs 2 whole bytes, got {got!r}"
    got = storage_bytes(10, 0.25, 1, replication=1)
    assert got == 3, f"10 events × 0.25 bytes is 2.5 bytes, which needs 3 whole bytes (never round to nearest), got {got!r}"
    got = storage_bytes(1, 1.25, 1, replication=1)
    assert got == 2, f"1.25 bytes needs 2 whole bytes: round up, got {got!r}"
    got = storage_bytes(3, 1, 1, replication=1)
    assert got == 3, f"3 events of 1 byte are exactly 3 bytes: nothing to round up, got {got!r}"
    got = storage_bytes(1_001, 1, 7, replication=1)
    assert got == 7_007, f"1,001 events x 1 byte x 7 days is exactly 7,007 bytes, got {got!r}"
    got = storage_bytes(3, 0.5, 1, replication=3)
    assert got == 5, (
        f"3 events × 0.5 bytes × 3 replicas is 4.5 bytes, rounded up once to 5 (not 2 bytes per replica "
        f"× 3 = 6): round the whole product, got {got!r}"
    )


def test_storage_rounds_up_even_a_sliver_of_a_byte():
    got = storage_bytes(3, 33.334, 1, replication=1)
    assert got == 101, (
        f"3 events of 33.334 bytes are 100.002 bytes, which need 101 whole bytes: round the product up however "
        f"small its fraction (rounding it to two decimals first gives 100), got {got!r}"
    )


def test_storage_rounds_up_a_fraction_far_below_float_noise_guards():
    got = storage_bytes(3, 33.3333333334, 1, replication=1)
    assert got == 101, (
        f"3 events of 33.3333333334 bytes are 100.0000000002 bytes, which need 101 whole bytes, got {got!r}: round "
        f"the product up however small its fraction (rounding it to 6 or 9 decimals first, or subtracting an epsilon "
        f"such as 1e-9 before the ceiling, gives 100)"
    )
    got = storage_bytes(1, math.nextafter(1.0, math.inf), 1, replication=1)
    assert got == 2, (
        f"one event of 1.0000000000000002 bytes (one float step above 1) needs 2 whole bytes, got {got!r}: even "
        f"machine epsilon subtracted before the ceiling (ceil(x - sys.float_info.epsilon)) gives 1"
    )


def test_storage_of_an_exabyte_plan_is_exact_and_positive():
    got = storage_bytes(10**12, 10_000, 365, replication=3)
    assert got == 10_950_000_000_000_000_000 and type(got) is int, (
        f"a trillion events a day of 10 kB kept a year on 3 replicas is 10,950,000,000,000,000,000 bytes (10.95 EB), "
        f"a plain int, got {got!r}: Python ints do not overflow, but a product taken in numpy int64 (np.prod) wraps "
        f"round past 9.2e18 and comes back negative"
    )


def test_storage_of_a_fraction_of_a_byte_is_one_whole_byte():
    got = storage_bytes(1, 1e-13, 1, replication=1)
    assert got == 1 and type(got) is int, (
        f"one event of 1e-13 bytes still needs one whole byte on disk, got {got!r}: any positive volume rounds up to "
        f"at least 1 byte (subtracting an epsilon such as 1e-12 before the ceiling gives 0 bytes)"
    )


def test_storage_of_a_fractional_event_rate_is_rounded_up_to_an_int():
    got = storage_bytes(2.5, 1, 1, replication=1)
    assert got == 3 and type(got) is int, (
        f"2.5 events a day of 1 byte for 1 day on 1 replica is 2.5 bytes, which need 3 whole bytes, an int, got "
        f"{got!r}: events_per_day is a rate and may be fractional, so the product is rounded up whichever input is "
        f"a float, not only bytes_per_event"
    )
    got = storage_bytes(1.5e6, 50, 90)
    assert got == 20_250_000_000 and type(got) is int, (
        f"1.5e6 events a day (a forecast written as a float) x 50 bytes x 90 days x 3 replicas is 20,250,000,000 "
        f"bytes, a plain int, got {got!r}"
    )


def test_storage_past_the_precision_of_a_float_is_exact():
    got = storage_bytes(10**12 + 1, 10_000, 365, replication=3)
    assert got == 10_950_000_000_010_950_000 and type(got) is int, (
        f"(10**12 + 1) events a day x 10 kB x 365 days x 3 replicas is exactly 10,950,000,000,010,950,000 bytes, got "
        f"{got!r}: whole-number inputs give an exact Python int; converting them to float first keeps only 53 bits "
        f"and changes the last digits of a plan this large"
    )


def test_storage_past_decimals_default_precision_is_exact():
    got = storage_bytes(10**24 + 1, 10_001, 365, replication=3)
    assert got == 10_951_095_000_000_000_000_000_010_951_095 and type(got) is int, (
        f"(10**24 + 1) events a day x 10,001 bytes x 365 days x 3 replicas is exactly "
        f"10,951,095,000,000,000,000,000,010,951,095 bytes (32 digits), got {got!r}: whole-number inputs give an exact "
        f"int however large; a product taken in Decimal keeps only the context's 28 significant digits "
        f"(decimal's default precision) and rounds the rest away"
    )


@pytest.mark.parametrize("events", [10**50 + 1, 10**400], ids=["past_decimal_precision", "too_large_for_a_float"])
def test_storage_of_whole_numbers_is_exact_however_large(events):
    got = storage_bytes(events, 10_001, 365, replication=3)
    assert got == events * 10_001 * 365 * 3 and type(got) is int, (
        f"{str(events)[:12]}... ({len(str(events))} digits) events a day x 10,001 bytes x 365 days x 3 replicas is "
        f"exactly {str(events * 10_001 * 365 * 3)[:20]}... bytes, got {type(got).__name__} {str(got)[:20]}...: "
        f"whole-number inputs give an exact int however large. Widening Decimal's precision to 40 or 50 digits only "
        f"moves the limit, and math.isfinite raises OverflowError on an int no float can hold (10**400): check whole "
        f"numbers with int comparisons; Python ints (or Fraction) have no limit"
    )


@pytest.mark.parametrize(
    "args, expected",
    [((np.int32(1_000_000), np.int32(50), 90, 3), 13_500_000_000),
     ((np.int64(10**12), np.int64(10_000), 365, 3), 10_950_000_000_000_000_000),
     ((np.int64(10**12), np.int64(10_000), np.int64(365), np.int64(3)), 10_950_000_000_000_000_000),
     ((np.int64(10**16 + 1), np.int64(50), 90, 3), 135_000_000_000_000_013_500)],
    ids=["int32_volume", "int64_volume", "every_input_int64", "int64_volume_past_2**53"],
)
def test_storage_of_numpy_integer_inputs_never_wraps_round(args, expected):
    try:
        with np.errstate(over="ignore"):
            got = storage_bytes(*args)
    except ValueError:
        return  # refusing numpy integers is fine too
    assert got == expected and type(got) is int, (
        f"storage_bytes{tuple(int(a) for a in args)} with numpy integer inputs (as read from a DataFrame) is exactly "
        f"{expected:,} bytes, a plain int, or a ValueError; got {got!r} of type {type(got).__name__}: multiplied in "
        f"the inputs' own {type(args[0]).__name__}, the product wraps round (to a wrong or negative size), and converted "
        f"to float a count past 2**53 (10**16 + 1) loses its last digit; turn whole numbers, numpy integers included, "
        f"into Python ints before multiplying"
    )


@pytest.mark.parametrize(
    "args, expected",
    [((np.float32(2.5), 1, 1, 1), 3), ((1_000, np.float32(0.5), 90, 3), 135_000), ((np.float64(2.5), 1, 1, 1), 3),
     ((np.float32(0.1), 10, 1, 1), 2), ((3, 33.3333333334, np.float32(1.0), 1), 101),
     ((3, 33.3333333334, 1, np.float32(1.0)), 101)],
    ids=["float32_events", "float32_bytes", "float64_events", "float32_events_not_multiplied_in_float32",
         "float32_retention_not_multiplied_in_float32", "float32_replication_not_multiplied_in_float32"],
)
def test_storage_of_numpy_float_inputs_is_counted_or_refused(args, expected):
    try:
        got = storage_bytes(*args)
    except ValueError:
        return  # refusing numpy numbers is fine too
    except TypeError as error:
        pytest.fail(
            f"storage_bytes{tuple(float(a) for a in args)} with a numpy float input raised TypeError ({error}): a "
            f"np.float32 is a number, so count it as the float it holds (float(x) converts it exactly; "
            f"Fraction(np.float32(2.5)) refuses it) or refuse it with ValueError like every bad input"
        )
    assert got == expected and type(got) is int, (
        f"storage_bytes{tuple(float(a) for a in args)} with numpy float inputs (a float32 column of a DataFrame) is "
        f"exactly {expected:,} bytes, a plain int, or a ValueError; got {got!r} of type {type(got).__name__}. A "
        f"np.float32 counts as the float it holds (np.float32(0.1) is 0.10000000149): multiplied as it comes, numpy "
        f"keeps the product in float32, where 10 x np.float32(0.1) rounds to exactly 1.0 and the sliver above 1 "
        f"byte is lost (and 100.0000000002 bytes x a np.float32(1.0) retention or replication rounds to 100); "
        f"convert every numpy float with float(x) first, in every position"
    )


@pytest.mark.parametrize(
    "args, rounded_up",
    [((1, 1, 2.5, 1), 3), ((3, 1, 1, 1.5), 5), ((1, 1, 0.5, 1), 1)],
    ids=["fractional_retention", "fractional_replication", "half_a_day"],
)
def test_a_fractional_retention_or_replication_is_refused_or_rounded_up(args, rounded_up):
    try:
        got = storage_bytes(*args)
    except ValueError:
        return  # refusing a fractional number of days or replicas is fine
    assert got == rounded_up and type(got) is int, (
        f"storage_bytes{args} either raises ValueError or counts the fraction as it is: the product is "
        f"{args[0] * args[1] * args[2] * args[3]:g} bytes, rounded up to {rounded_up} (an int); got {got!r}. Truncating "
        f"retention_days or replication to a whole number first (int(2.5) is 2) under-plans the disk"
    )


@pytest.mark.parametrize(
    "args",
    [(0, 50, 90, 3), (-1, 50, 90, 3), (1_000, 0, 90, 3), (1_000, 50, 0, 3), (1_000, 50, -7, 3), (1_000, 50, 90, 0),
     (-1_000, -50, 90, 3), (1_000, 50, -90, -3),
     (0.0, 50, 90, 3), (-2.5, 50, 90, 3), (1_000, -0.5, 90, 3), (1_000, 0.0, 90, 3), (1_000, -0.0, 90, 3),
     (2.5, 50, -90, 3), (1.5, 50, 90, 0), (1_000, 50, -90.0, 3), (1_000, 50, 90, -0.5)],
    ids=["zero_events", "negative_events", "zero_bytes", "zero_retention", "negative_retention", "zero_replication",
         "two_negatives_that_cancel", "negative_retention_and_replication",
         "float_zero_events", "float_negative_events", "float_negative_bytes", "float_zero_bytes",
         "float_negative_zero_bytes", "negative_retention_next_to_a_float", "zero_replication_next_to_a_float",
         "float_negative_retention", "float_negative_replication"],
)
def test_storage_rejects_zero_or_negative_inputs(args):
    try:
        got = storage_bytes(*args)
    except ValueError:
        return
    pytest.fail(
        f"storage_bytes{args} has an input that is not > 0, so it raises ValueError; got {got!r}. Check the sign of "
        f"every input, an int or a float (a float path that checks only NaN and infinity lets -0.5 bytes through)"
    )


def test_a_full_plan_for_ten_million_requests_a_day():
    peak = peak_qps(10_000_000, 3.0)
    budget = latency_budget_ms(200.0, [20.0, 30.0])
    per_replica = replica_qps(4, 40.0)
    replicas = replicas_needed(peak, per_replica, headroom=0.3)
    assert peak == pytest.approx(347.22, abs=0.01), "10M requests a day at a 3x peak is about 347 QPS"
    assert budget == pytest.approx(150.0), "200 ms minus 50 ms of other hops leaves 150 ms"
    assert replicas == math.ceil(peak / 70.0) == 5, "347 QPS at 70 usable QPS per replica needs 5 replicas"


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "function, args",
    [
        (peak_qps, (NAN,)), (peak_qps, (INF,)), (peak_qps, (86_400, NAN)), (peak_qps, (86_400, INF)),
        (latency_budget_ms, (NAN, [])), (latency_budget_ms, (INF, [])), (latency_budget_ms, (200.0, [NAN])),
        (replica_qps, (4, NAN)), (replica_qps, (4, INF)), (replica_qps, (INF, 40.0)), (replica_qps, (NAN, 40.0)),
        (replicas_needed, (NAN, 100.0)), (replicas_needed, (INF, 100.0)), (replicas_needed, (50.0, NAN)),
        (replicas_needed, (50.0, INF)), (replicas_needed, (50.0, 100.0, NAN)), (replicas_needed, (50.0, 100.0, 0.3, INF)),
        (replicas_needed, (50.0, 100.0, 0.3, NAN)), (latency_budget_ms, (200.0, [INF])),
        (storage_bytes, (NAN, 50, 90)), (storage_bytes, (INF, 50, 90)), (storage_bytes, (1_000, NAN, 90)),
        (storage_bytes, (1_000, INF, 90)), (storage_bytes, (1_000, 50, INF)), (storage_bytes, (1_000, 50, 90, INF)),
        (storage_bytes, (1_000, 50, NAN)), (storage_bytes, (1_000, 50, 90, NAN)),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_nan_and_infinity_are_bad_inputs(function, args):
    with pytest.raises(ValueError):
        function(*args)


@pytest.mark.parametrize(
    "function, args",
    [
        (peak_qps, ("86400",)), (peak_qps, (86_400, "3")), (latency_budget_ms, ("200", [20.0])),
        (latency_budget_ms, (200.0, ["20"])), (replica_qps, ("4", 40.0)), (replica_qps, (4, "40")),
        (replicas_needed, ("350", 100.0)), (replicas_needed, (350.0, "100")), (replicas_needed, (350.0, 100.0, "0.3")),
        (replicas_needed, (350.0, 100.0, 0.3, "2")), (storage_bytes, ("1000", 50, 90)),
        (storage_bytes, (1_000, "50", 90)), (storage_bytes, (1_000, 50, "90")), (storage_bytes, (1_000, 50, 90, "2")),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_a_number_given_as_text_is_a_bad_input(function, args):
    try:
        got = function(*args)
    except (ValueError, TypeError):
        return
    pytest.fail(
        f"{function.__name__}{args!r} with a number given as text returned {got!r}: a str such as \"100\" is a bad "
        f"input, so refuse it with ValueError (or the TypeError comparing it raises), never convert it with float(), "
        f"int(), Decimal() or Fraction()"
    )


HUGE = 10**400   # a whole number no float can hold: float(10**400) raises OverflowError


@pytest.mark.parametrize(
    "function, args",
    [
        (peak_qps, (HUGE,)), (peak_qps, (86_400, HUGE)), (latency_budget_ms, (HUGE, [])),
        (latency_budget_ms, (HUGE, [HUGE - 1])), (latency_budget_ms, (200.0, [HUGE])), (replica_qps, (HUGE, 40.0)),
        (replica_qps, (4, HUGE)), (replicas_needed, (HUGE, 100.0)), (replicas_needed, (50.0, HUGE)),
        (replicas_needed, (HUGE, HUGE)),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_a_number_too_large_for_a_float_is_a_bad_input(function, args):
    try:
        got = function(*args)
    except ValueError:
        return
    except OverflowError as error:
        pytest.fail(
            f"{function.__name__} with an int too large for a float (10**400) raised OverflowError ({error}): like "
            f"infinity it is a bad input, so raise ValueError. math.isfinite(10**400) and 10**400 / 86_400 raise "
            f"OverflowError themselves: catch it (or convert with float() inside a try) before checking finiteness"
        )
    pytest.fail(f"{function.__name__} with an int too large for a float (10**400) returned {got!r}: raise ValueError")


REFUSED = object()   # a ValueError, not a value: a function returning None has not refused anything


def _answer_unless_refused(call, what: str, fix: str):
    """What `call()` returns, or REFUSED when it raised ValueError (as it may, like infinity); never OverflowError."""
    try:
        return call()
    except ValueError:
        return REFUSED
    except OverflowError as error:
        pytest.fail(f"{what} raised OverflowError ({error}): {fix}")


@pytest.mark.parametrize(
    "args, exact", [((HUGE, 0.5, 1, 1), HUGE // 2), ((1, 1e300, HUGE, 1), None)], ids=["huge_events", "huge_days"]
)
def test_storage_of_an_int_too_large_for_a_float_next_to_a_float_is_exact_or_refused(args, exact):
    got = _answer_unless_refused(lambda: storage_bytes(*args), "storage_bytes with 10**400 next to a float input",
                                 "give the exact int (multiply as fractions) or refuse it with ValueError like infinity")
    expected = exact if exact is not None else math.ceil(Fraction(1e300) * HUGE)
    assert got is REFUSED or (got == expected and type(got) is int), (
        f"storage_bytes with 10**400 next to a float either raises ValueError or gives the exact int; got "
        f"{type(got).__name__} {str(got)[:20]}..."
    )


def test_storage_of_floats_whose_product_is_past_a_float_is_exact_or_refused():
    # 1e200 events a day of 1e200 bytes each: every input is a finite float, their product (1e400) is not.
    got = _answer_unless_refused(lambda: storage_bytes(1e200, 1e200, 1, 1), "storage_bytes(1e200, 1e200, 1, 1)",
                                 "the float product is infinity and math.ceil(inf) raises OverflowError; refuse such a "
                                 "plan with ValueError (or give the exact int, multiplying as fractions)")
    exact = Fraction(1e200) * Fraction(1e200)   # the floats as they are; their decimal reading, 10**400, is as good
    assert got is REFUSED or (type(got) is int and abs(got - exact) <= exact * Fraction(1, 10**12)), (
        f"storage_bytes(1e200, 1e200, 1, 1) either raises ValueError or gives the int, about 10**400; got {got!r:.30}"
    )


def test_a_floor_too_large_for_a_float_is_kept_exactly_or_refused():
    got = _answer_unless_refused(lambda: replicas_needed(50.0, 100.0, min_replicas=HUGE), "min_replicas=10**400",
                                 "raise ValueError or return the floor")
    assert got is REFUSED or (got == HUGE and type(got) is int), (
        f"min_replicas=10**400 either raises ValueError or is the answer as it is, the int 10**400; got {got!r:.30}"
    )


def _plain(value):
    """A numpy integer (or a list of them) as the Python int it holds, for a message."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return int(value) if isinstance(value, np.integer) else value


@pytest.mark.parametrize(
    "function, args, expected",
    [(peak_qps, (np.int32(1_000_000_000), 3), 1e9 / 86_400 * 3),
     (peak_qps, (np.int64(4 * 10**18), np.int64(3)), 4e18 / 86_400 * 3),
     (replica_qps, (np.int16(100), 40.0), 2_500.0), (replica_qps, (np.int8(100), 40.0), 2_500.0),
     (replica_qps, (np.int32(3_000_000), 40.0), 75_000_000.0),
     (latency_budget_ms, (250.0, [np.int8(100), np.int8(100)]), 50.0),
     (latency_budget_ms, (250, [np.int8(100), np.int8(100)]), 50),
     (latency_budget_ms, (50_000.0, [np.int16(20_000), np.int16(20_000)]), 10_000.0),
     (replica_qps, (np.int64(10**16), 40.0), 2.5e17),
     (latency_budget_ms, (250.0, np.array([100, 100], dtype=np.int8)), 50.0)],
    ids=["int32_traffic", "int64_traffic_and_peak", "int16_workers", "int8_workers", "int32_workers",
         "int8_hops", "int8_hops_int_target", "int16_hops", "int64_workers", "int8_hops_array"],
)
def test_numpy_integer_inputs_never_wrap_round(function, args, expected):
    call = f"{function.__name__}{tuple(_plain(arg) for arg in args)}"
    try:
        with np.errstate(over="ignore"):
            got = function(*args)
    except ValueError:
        return  # refusing numpy integers is fine too
    except OverflowError as error:
        pytest.fail(f"{call} with numpy integer inputs raised OverflowError ({error}): compute in Python ints or "
                    "floats, not in the inputs' own fixed-width type")
    assert got == pytest.approx(expected), (
        f"{call} with numpy integer inputs (read from a DataFrame) is about {expected:g}, or a ValueError; got "
        f"{got!r}: multiplied or added up in the inputs' own fixed-width type (sum() of np.int8 hops stays int8), "
        f"a product or a total wraps round (to a negative rate or budget); turn the inputs into Python ints or "
        f"floats first (math.fsum does for a list)"
    )


@pytest.mark.parametrize(
    "function, args, exact",
    [(replicas_needed, (1e308, 1e-10), Fraction(1e308) / (Fraction(1e-10) * (1 - Fraction(3, 10)))),
     (replicas_needed, (1e308, 1e-10, 0.0, 1), Fraction(1e308) / Fraction(1e-10)),
     (peak_qps, (1e308, 1e10), Fraction(1e308) / 86_400 * Fraction(1e10)),
     (replica_qps, (10**300, 1e-10), Fraction(10**300) * 1000 / Fraction(1e-10))],
    ids=["replicas_needed", "replicas_needed_no_headroom", "peak_qps", "replica_qps"],
)
def test_a_result_past_a_floats_range_is_refused_not_an_overflow(function, args, exact):
    call = f"{function.__name__}{args!r}"
    fix = ("every input is finite but the answer is past a float's range (about 1.8e308): refuse it with ValueError, "
           "or give the exact int; never OverflowError (math.ceil(inf) raises it) and never inf")
    got = _answer_unless_refused(lambda: function(*args), call, fix)
    if got is REFUSED:
        return
    close = isinstance(got, int) and not isinstance(got, bool) and abs(got - exact) <= exact * Fraction(1, 10**9)
    assert close, f"{call} is about {float(exact / 10**300):.3g}e300; got {got!r:.40}: {fix}"
