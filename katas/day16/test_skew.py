"""Task 3: train/serve skew. Read these tests as the specification."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skew import distribution_skew, feature_skew

pytestmark = pytest.mark.task(taskno=3)


def offline_online():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "spend_7d": [10.0, 20.0, 30.0, np.nan],
                            "country": ["FR", "DE", "US", None], "txn_count": [1, 2, 3, 4]})
    online = pd.DataFrame({"entity_id": ["d", "c", "b", "a"], "spend_7d": [np.nan, 30.0, 20.0 + 5e-7, 10.0],
                           "country": [None, "US", "de", "FR"], "txn_count": [4, 3, 2, 1]})
    # "z" exists online only, "y" offline only; online rows come in another order
    online.loc[4] = ["z", 1.0, "FR", 9]
    offline.loc[4] = ["y", 5.0, "FR", 7]
    return offline, online


def test_every_feature_is_reported_with_the_entities_that_disagree():
    offline, online = offline_online()
    report = feature_skew(offline, online)
    assert report == {"spend_7d": [], "country": ["b"], "txn_count": []}, (
        "'b' has country DE offline but 'de' online; 5e-7 is within the default tolerance of 1e-6; "
        f"two missing values agree; 'z' is online only and 'y' offline only: neither is compared. Got {report}"
    )


def test_every_feature_is_reported_even_when_no_entity_is_in_both_frames():
    offline = pd.DataFrame({"entity_id": ["a"], "x": [1.0], "s": ["v"]})
    online = pd.DataFrame({"entity_id": ["b"], "x": [2.0], "s": ["w"]})
    report = feature_skew(offline, online)
    assert report == {"x": [], "s": []}, (
        "every offline feature is reported, with an empty list when no entity disagrees, also when no entity is "
        f"in both frames (nothing compared, nothing disagrees); got {report}"
    )


def test_the_tolerance_is_inclusive_and_used():
    offline = pd.DataFrame({"entity_id": [1, 2, 3], "x": [0.0, 0.0, 0.0]})
    online = pd.DataFrame({"entity_id": [1, 2, 3], "x": [0.5, 0.25, 0.75]})
    assert feature_skew(offline, online, tolerance=0.5) == {"x": [3]}, (
        "a difference of exactly the tolerance (0.5) agrees; 0.75 does not"
    )
    assert feature_skew(offline, online) == {"x": [1, 2, 3]}, "the default tolerance is 1e-6"
    close = pd.DataFrame({"entity_id": [1, 2, 3], "x": [0.0, 5e-7, 0.0]})
    assert feature_skew(offline, close, tolerance=0) == {"x": [2]}, (
        "tolerance=0 is a tolerance (not 'the default'): only equal numbers agree, 5e-7 apart do not"
    )


def test_integers_are_numbers_and_the_tolerance_is_absolute():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c"], "n": [10, 20, 30],
                            "count": pd.array([1, None, None], dtype="Int64"), "big": [1e9, 1e9, 1e12]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c"], "n": [11, 22, 30],
                           "count": pd.array([1, None, 4], dtype="Int64"), "big": [1e9, 1e9 + 2, 1e12 + 100]})
    assert feature_skew(offline, online, tolerance=1) == {"n": ["b"], "count": ["c"], "big": ["b", "c"]}, (
        "integers are numbers (10 and 11 agree within a tolerance of 1, 20 and 22 do not); pd.NA on both sides "
        "agrees and on one side does not; the tolerance is absolute, however large the values"
    )


def test_equal_infinities_agree_and_opposite_ones_do_not():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c"], "x": [np.inf, -np.inf, np.inf]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c"], "x": [np.inf, -np.inf, -np.inf]})
    report = feature_skew(offline, online)
    assert report == {"x": ["c"]}, (
        "inf and inf are equal numbers, so they agree (inf - inf is NaN: test equality before the difference); "
        f"inf and -inf do not; got {report}"
    )


def test_integers_are_compared_exactly_without_wrap_around_or_rounding():
    offline = pd.DataFrame({"entity_id": ["a", "b"], "count": np.array([5, 7], dtype="uint32")})
    online = pd.DataFrame({"entity_id": ["a", "b"], "count": np.array([7, 5], dtype="uint32")})
    report = feature_skew(offline, online, tolerance=2)
    assert report == {"count": []}, (
        "5 and 7 differ by 2, either way round: within a tolerance of 2 (numpy's uint32(5) - uint32(7) wraps "
        f"around to 4294967294; subtract Python ints); got {report}"
    )
    as_json = [np.uint32(5), np.uint32(7), np.uint64(2**64 - 1), np.int64(2**62)]  # numpy scalars an online path left in
    offline = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "count": pd.Series(as_json, dtype=object)})
    online = pd.DataFrame({"entity_id": ["a", "b", "c", "d"],
                           "count": pd.Series([np.uint32(7), np.uint32(5), np.uint64(2**64 - 3), np.int64(-2**62)],
                                              dtype=object)})
    report = feature_skew(offline, online, tolerance=2)
    assert report == {"count": ["d"]}, (
        "numpy integers in object columns are subtracted exactly too: uint32 5 and 7 differ by 2 either way round, "
        "and so do the uint64 values 2**64 - 1 and 2**64 - 3; int64 2**62 and -2**62 are 2**63 apart. .tolist() "
        "leaves numpy scalars in an object column as they are (np.uint32(5) - np.uint32(7) wraps around): turn each "
        f"one into a Python number (.item()) first; got {report}"
    )
    big = 1_709_294_400_000_000_000  # an epoch time in nanoseconds, far above 2**53
    offline = pd.DataFrame({"entity_id": ["a", "b"], "ns": np.array([big, big], dtype="int64")})
    online = pd.DataFrame({"entity_id": ["a", "b"], "ns": np.array([big, big + 1], dtype="int64")})
    report = feature_skew(offline, online, tolerance=0)
    assert report == {"ns": ["b"]}, (
        "int64 values 1 apart are not equal: with tolerance=0 they disagree (float() rounds both to the same "
        f"number above 2**53); got {report}"
    )
    offline = pd.DataFrame({"entity_id": ["a", "b"], "id": np.array([2**53 + 1, 2**53 + 3], dtype="int64")})
    online = pd.DataFrame({"entity_id": ["a", "b"], "id": [float(2**53), float(2**53)]})  # the float 2**53 exactly
    report = {tolerance: feature_skew(offline, online, tolerance=tolerance) for tolerance in (0, 3)}
    assert report == {0: {"id": ["a", "b"]}, 3: {"id": []}}, (
        "an int and a float are subtracted exactly too: the int64 2**53 + 1 and the float 2.0**53 are 1 apart (not "
        "equal: they disagree at tolerance=0), and 2**53 + 3 is 3 from 2.0**53 (within a tolerance of 3). float(a) - "
        "b rounds the int first, to 2**53 and 2**53 + 4; compare exactly (fractions.Fraction holds both); "
        f"got {report}"
    )
    offline = pd.DataFrame({"entity_id": ["a", "b"], "ns": pd.array([big, None], dtype="Int64")})
    online = pd.DataFrame({"entity_id": ["a", "b"], "ns": pd.array([big + 1, None], dtype="Int64")})
    report = feature_skew(offline, online, tolerance=0)
    assert report == {"ns": ["a"]}, (
        "in nullable 'Int64' columns too, values 1 apart above 2**53 disagree at tolerance=0 (never turn them into "
        f"floats to get rid of pd.NA); got {report}"
    )


def test_two_missing_values_of_different_kinds_agree():
    t = pd.Timestamp("2024-03-01 12:00")
    offline = pd.DataFrame({"entity_id": ["a", "b", "c"], "x": pd.Series([np.nan, None, 1.0], dtype=object),
                            "seen": pd.DatetimeIndex([pd.NaT, pd.NaT, t])})
    online = pd.DataFrame({"entity_id": ["a", "b", "c"], "x": pd.Series([None, pd.NA, None], dtype=object),
                           "seen": [np.nan, np.nan, np.nan]})  # the online path served no timestamp at all
    report = feature_skew(offline, online)
    assert report == {"x": ["c"], "seen": ["c"]}, (
        "NaN and None, None and pd.NA, NaT and NaN are all missing values: two missing values agree whatever their "
        f"kind (pd.isna on both sides), and only the one value against a missing one is skew; got {report}"
    )


def test_numbers_agree_within_the_tolerance_whatever_their_types():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "n": np.array([3, 5, 7, 9], dtype="int64"),
                            "x": [1.0, 2.0, 3.0, 4.0]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "n": [3.0, 5.5, 7.0, 9.0],
                           "x": pd.Series([1.0 + 5e-7, None, 3.5, 4], dtype=object)})  # JSON: floats, ints, nulls
    report = feature_skew(offline, online)
    assert report == {"n": ["b"], "x": ["b", "c"]}, (
        "an int64 3 and a float 3.0 are equal numbers (online paths often return floats), and numbers in an object "
        "column get the tolerance too (1.0 and 1.0000005 agree within 1e-6, 4.0 and the int 4 agree); only 5 and 5.5, "
        f"2.0 and a missing value, 3.0 and 3.5 disagree; got {report}"
    )
    offline = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "x": [3.0000005, 2.5, 7.0, 0.1]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c", "d"],
                           "x": pd.Series([np.int64(3), np.float32(2.5), np.uint8(9), np.float32(0.1)], dtype=object)})
    report = feature_skew(offline, online)
    assert report == {"x": ["c"]}, (
        "numpy scalars in an object column are numbers too (np.int64(3) and 3.0000005, np.float32(0.1) and 0.1 agree "
        "within 1e-6; np.uint8(9) and 7.0 do not): test for numbers.Number or np.number, not only int and float; "
        f"got {report}"
    )
    # np.float32(0.1) holds 0.100000001490116...: 1.5e-9 from the float 0.1, though NumPy calls them equal in float32
    offline = pd.DataFrame({"entity_id": ["a"], "x": pd.Series([np.float32(0.1)], dtype=object)})
    online = pd.DataFrame({"entity_id": ["a"], "x": [0.1]})
    for tolerance, expected in ((0, ["a"]), (1e-9, ["a"]), (2e-9, [])):
        report = feature_skew(offline, online, tolerance=tolerance)
        assert report == {"x": expected}, (
            f"np.float32(0.1) is the number it holds, 0.100000001490116..., 1.5e-9 from the float 0.1: at "
            f"tolerance={tolerance} they {'disagree' if expected else 'agree'}; turn NumPy scalars into Python numbers "
            f"(.item()) before comparing them, since np.float32(0.1) == 0.1 is True in float32; got {report}"
        )


def test_one_missing_value_always_disagrees():
    offline = pd.DataFrame({"entity_id": ["a", "b"], "x": [np.nan, 1.0], "s": ["v", None]})
    online = pd.DataFrame({"entity_id": ["a", "b"], "x": [1.0, np.nan], "s": [None, "v"]})
    assert feature_skew(offline, online, tolerance=10.0) == {"x": ["a", "b"], "s": ["a", "b"]}, (
        "a value on one path and nothing on the other is skew, whatever the tolerance"
    )


def test_timestamps_are_values_and_two_missing_ones_agree():
    t = pd.Timestamp("2024-03-01 12:00")
    offline = pd.DataFrame({"entity_id": ["a", "b", "c", "d", "e"],
                            "seen": pd.DatetimeIndex([pd.NaT, pd.NaT, t, t, t])})
    online = pd.DataFrame({"entity_id": ["a", "b", "c", "d", "e"],
                           "seen": pd.DatetimeIndex([pd.NaT, t, t, t + pd.Timedelta(seconds=1),
                                                     t + pd.Timedelta(nanoseconds=1)])})
    assert feature_skew(offline, online, tolerance=10.0) == {"seen": ["b", "d", "e"]}, (
        "NaT on both paths agrees, NaT on one does not; timestamps agree only when equal (the tolerance is "
        "for numbers, not for nanoseconds since the epoch: 1 ns apart is not equal)"
    )


def test_entities_are_listed_sorted():
    offline = pd.DataFrame({"entity_id": ["c", "a", "b"], "x": [1.0, 1.0, 1.0]})
    online = pd.DataFrame({"entity_id": ["b", "c", "a"], "x": [2.0, 2.0, 2.0]})
    assert feature_skew(offline, online) == {"x": ["a", "b", "c"]}, "entities are matched by id and sorted"
    offline = pd.DataFrame({"entity_id": [10, 2, 1], "x": [1.0, 1.0, 1.0]})
    online = pd.DataFrame({"entity_id": [1, 10, 2], "x": [2.0, 2.0, 2.0]})
    report = feature_skew(offline, online)
    assert report == {"x": [1, 2, 10]}, f"integer entities are sorted as numbers (2 before 10), not as text; got {report}"


@pytest.mark.parametrize("dtype", ["int64", "uint64", "int32"])
def test_the_report_lists_entities_as_plain_python_values(dtype):
    offline = pd.DataFrame({"entity_id": np.array([7, 8, 9], dtype=dtype), "x": [1.0, 1.0, 1.0]})
    online = offline.assign(x=[2.0, 1.0, 2.0])
    report = feature_skew(offline, online)
    assert report == {"x": [7, 9]}, f"entities 7 and 9 disagree, 8 agrees; got {report}"
    kinds = sorted({type(e).__name__ for e in report["x"]})
    assert kinds == ["int"], (
        f"the report is logged as JSON (json.dumps), which rejects NumPy integers: list the entities of a {dtype} "
        f"column as Python ints (`.item()`, `.tolist()`), not as {', '.join(kinds)}")
    json.dumps(report)


def test_entities_match_as_equal_values_not_as_text():
    offline = pd.DataFrame({"entity_id": np.array([1, 2, 3], dtype="int64"), "x": [1.0, 1.0, 1.0]})
    online = pd.DataFrame({"entity_id": pd.Series(["1", 2, 3.0], dtype=object), "x": [2.0, 2.0, 1.0]})
    report = feature_skew(offline, online)
    assert report == {"x": [2]}, (
        "entities match by equal value: 2 and 2 disagree, 3 and 3.0 are one entity and agree, and the text '1' is "
        f"not the number 1 (each is in one frame only: not compared; do not compare keys as text); got {report}"
    )


@pytest.mark.parametrize("online_dtype", ["int64", "uint64"])
def test_integer_entities_above_2_53_are_not_rounded_together(online_dtype):
    big = 2**53
    offline = pd.DataFrame({"entity_id": np.array([big + 1, 5], dtype="int64"), "x": [1.0, 1.0]})
    online = pd.DataFrame({"entity_id": np.array([big, 5], dtype=online_dtype), "x": [2.0, 1.0]})
    report = feature_skew(offline, online)
    assert report == {"x": []}, (
        f"the entity {big + 1} (offline only, int64) is not the entity {big} (online only, {online_dtype}): entities "
        "match by equal value, never cast integer ids to float (pandas merges int64 with uint64 keys through "
        f"float64, which rounds both to one number: merge copies of the keys as objects); got {report}"
    )


def test_booleans_are_compared_as_values():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c"], "is_new": [True, False, True]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c"], "is_new": [True, True, False]})
    assert feature_skew(offline, online, tolerance=1.0) == {"is_new": ["b", "c"]}, (
        "True and False differ, either way round, even with a tolerance of 1: booleans are not numbers here"
    )


def test_a_bool_is_never_within_the_tolerance_of_a_number():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c"], "x": [0.5, 2.0, 1.0]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c"], "x": pd.Series([True, True, False], dtype=object)})
    report = feature_skew(offline, online, tolerance=1.0)
    assert report == {"x": ["a", "b", "c"]}, (
        "an online path that serves a flag where the offline path has a number is skew: bools are not numbers, so "
        "the tolerance never applies to a bool on either side (0.5 and True, 2.0 and True, 1.0 and False are within "
        f"1 of each other only if True counts as 1); got {report}"
    )
    report = feature_skew(online, offline, tolerance=1.0)
    assert report == {"x": ["a", "b", "c"]}, f"the same with the flags on the offline side; got {report}"


def test_a_value_and_its_text_disagree():
    t = pd.Timestamp("2024-03-01 12:00")
    offline = pd.DataFrame({"entity_id": ["a", "b"], "n": [10, 20], "ratio": [0.5, 0.25],
                            "seen": pd.DatetimeIndex([t, t])})
    online = pd.DataFrame({"entity_id": ["a", "b"], "n": pd.Series(["10", 20], dtype=object),
                           "ratio": pd.Series([0.5, "0.25"], dtype=object), "seen": pd.Series([str(t), t], dtype=object)})
    report = feature_skew(offline, online, tolerance=1.0)
    assert report == {"n": ["a"], "ratio": ["b"], "seen": ["a"]}, (
        "an online path that returns text where the offline one has a number or a timestamp is skew: 10 and '10', "
        "0.25 and '0.25', a Timestamp and its text are not equal values (never compare values through str()); "
        f"got {report}"
    )


def test_text_values_agree_only_when_equal():
    offline = pd.DataFrame({"entity_id": ["a", "b", "c"], "country": ["fr", "FR", "FR"]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c"], "country": ["FR", "fr", "FR"]})
    assert feature_skew(offline, online, tolerance=100.0) == {"country": ["a", "b"]}, (
        "text agrees only when equal (case counts), whichever side sorts first; the tolerance is for numbers"
    )
    offline = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "country": ["FR", "FR", "FR", "FR"]})
    online = pd.DataFrame({"entity_id": ["a", "b", "c", "d"], "country": ["FR ", " FR", "FR\n", "FR"]})
    report = feature_skew(offline, online)
    assert report == {"country": ["a", "b", "c"]}, (
        "'FR ', ' FR' and 'FR\\n' are not 'FR': text is compared exactly as it was given, never stripped first "
        f"(padding from a CHAR column or a trailing newline is exactly the skew to report); got {report}"
    )


def test_a_custom_entity_column_is_used():
    offline = pd.DataFrame({"card": ["a"], "entity_id": [1.0]})
    online = pd.DataFrame({"card": ["a"], "entity_id": [2.0]})
    assert feature_skew(offline, online, entity="card") == {"entity_id": ["a"]}, (
        "with entity='card', 'entity_id' is an ordinary feature"
    )


def test_missing_columns_and_repeated_entities_are_rejected():
    offline, online = offline_online()
    with pytest.raises(KeyError, match="txn_count"):
        feature_skew(offline, online.drop(columns=["txn_count"]))
    with pytest.raises(KeyError, match="entity_id"):
        feature_skew(offline.drop(columns=["entity_id"]), online)
    with pytest.raises(KeyError, match="entity_id"):
        feature_skew(offline, online.drop(columns=["entity_id"]))
    with pytest.raises(ValueError):
        feature_skew(pd.concat([offline, offline.iloc[:1]]), online)
    with pytest.raises(ValueError):
        feature_skew(offline, pd.concat([online, online.iloc[:1]]))


@pytest.mark.parametrize("side", ["offline", "online"])
def test_an_entity_repeated_in_a_frame_is_rejected_even_when_the_other_frame_lacks_it(side):
    offline, online = offline_online()  # row 4 is "y" offline (offline only) and "z" online (online only)
    frames = {"offline": offline, "online": online}
    frames[side] = pd.concat([frames[side], frames[side].loc[[4]]])
    try:
        feature_skew(frames["offline"], frames["online"])
    except ValueError:
        return
    pytest.fail(f"{side} holds its one-sided entity twice: a frame must hold one row per entity, whether or not "
                "the other frame has that entity (check each frame's keys, not only the joined rows); no ValueError")


def test_neither_frame_is_modified():
    offline, online = offline_online()
    offline_before, online_before = offline.copy(deep=True), online.copy(deep=True)
    feature_skew(offline, online)
    pd.testing.assert_frame_equal(offline, offline_before, obj="offline after feature_skew")
    pd.testing.assert_frame_equal(online, online_before, obj="online after feature_skew")
    train = pd.DataFrame({"x": [3.0, 1.0, 2.0, 5.0], "n": [3, 1, 2, 5]}, index=[4, 2, 9, 1])
    serving = pd.DataFrame({"x": [2.0, 9.0, 1.0], "n": np.array([2, 9, 1], dtype="int32")})
    train_before, serving_before = train.copy(deep=True), serving.copy(deep=True)
    distribution_skew(train, serving, ["x", "n"], bins=2)
    pd.testing.assert_frame_equal(train, train_before, obj="train after distribution_skew (read the integer column "
                                                           "as floats in a copy, never convert the caller's column)")
    pd.testing.assert_frame_equal(serving, serving_before, obj="serving after distribution_skew (read the integer "
                                                               "column as floats in a copy, never convert the caller's column)")


def test_extra_online_columns_are_ignored():
    offline, online = offline_online()
    online["only_online"] = 1
    assert set(feature_skew(offline, online)) == {"spend_7d", "country", "txn_count"}, (
        "the features compared are offline's columns"
    )


# --- distribution skew (PSI) ---------------------------------------------------------------


def reference_psi(train, serving, bins):
    """Day 13's PSI, written out."""
    train, serving = np.asarray(train, float), np.asarray(serving, float)
    edges = np.quantile(train, [i / bins for i in range(1, bins)])
    total = 0.0
    p = {}
    for name, sample in (("t", train), ("s", serving)):
        counts = [0] * bins
        for v in sample:
            counts[sum(1 for e in edges if e < v)] += 1
        p[name] = [max(c / len(sample), 1e-4) for c in counts]
    for pt, ps in zip(p["t"], p["s"]):
        total += (ps - pt) * math.log(ps / pt)
    return total


def test_a_shifted_feature_is_flagged_and_a_stable_one_is_not():
    rng = np.random.default_rng(7)
    train = pd.DataFrame({"amount": rng.normal(50, 10, 2000), "age": rng.normal(40, 5, 2000)})
    serving = pd.DataFrame({"amount": rng.normal(65, 10, 2000), "age": rng.normal(40, 5, 2000)})
    report = distribution_skew(train, serving, ["amount", "age"])
    assert set(report) == {"amount", "age"}, "every named feature is reported"
    assert bool(report["amount"][1]) is True and bool(report["age"][1]) is False, (
        f"a 1.5-sigma shift is skew, the same distribution is not; got {report}"
    )
    for name in ("amount", "age"):
        assert report[name][0] == pytest.approx(reference_psi(train[name], serving[name], 10), rel=1e-9), (
            f"{name}: PSI is day 13's definition over 10 training-quantile bins"
        )


def test_values_equal_to_an_edge_go_to_the_bin_below_and_epsilon_floors_empty_bins():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    serving = pd.DataFrame({"x": [2.0, 2.0, 2.0, 9.0]})
    value, _ = distribution_skew(train, serving, ["x"], bins=4)["x"]
    assert value == pytest.approx(reference_psi(train["x"], serving["x"], 4), rel=1e-9), (
        "edges at the training quartiles (1.75, 2.5, 3.25): 2.0 lies in bin 2, 9.0 in the last; "
        "empty bins count as 1e-4"
    )


def test_every_proportion_below_epsilon_is_floored_not_only_empty_bins():
    train = pd.DataFrame({"x": np.arange(20_000, dtype=float)})  # 2 bins split at 9999.5
    serving = pd.DataFrame({"x": [0.0] * 19_999 + [19_999.0]})  # one value in 20000 in the upper bin: 5e-5
    value, _ = distribution_skew(train, serving, ["x"], bins=2)["x"]
    assert value == pytest.approx(reference_psi(train["x"], serving["x"], 2), rel=1e-9), (
        "the upper bin holds 1 of 20000 serving values (5e-5): every proportion below 1e-4 is raised to 1e-4, "
        "not only the empty ones (max(p, 1e-4))"
    )


def test_the_quantile_levels_are_exactly_i_over_bins():
    train = pd.DataFrame({"x": [float(v) for v in range(19)]})  # its 5/6 quantile is exactly 15.0
    serving = pd.DataFrame({"x": [15.0] * 5 + [3.0] * 5})
    value, _ = distribution_skew(train, serving, ["x"], bins=6)["x"]
    assert value == pytest.approx(reference_psi(train["x"], serving["x"], 6), rel=1e-9), (
        "edges are numpy.quantile(train, [1/6, ..., 5/6]) with the levels i/bins: the last edge is 15.0 and "
        "15.0 lies in the bin below it (np.linspace(0, 1, 7)[5] is one ulp below 5/6 and moves that edge)"
    )


def test_values_are_binned_at_their_full_precision():
    # 2 bins split at the training medians 0.5 and 2**24: each serving value just above its edge lies in the upper bin
    train = pd.DataFrame({"x": [0.0, 1.0], "n": np.array([0, 2**25], dtype="int64")})
    serving = pd.DataFrame({"x": [0.5 + 1e-9, 0.0, 0.0], "n": np.array([2**24 + 1, 0, 0], dtype="int64")})
    report = distribution_skew(train, serving, ["x", "n"], bins=2)
    for name, above in (("x", "0.5 + 1e-9 is above the edge 0.5"), ("n", "2**24 + 1 is above the edge 2**24")):
        value, _ = report[name]
        assert value == pytest.approx(reference_psi(train[name], serving[name], 2), rel=1e-9), (
            f"{name}: {above}, so one serving value in three lies in the upper bin; read the values as float64 "
            f"(float32 rounds it onto the edge and into the bin below); got PSI {value}"
        )


def test_each_call_reads_the_training_frame_as_it_is_then():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    serving = pd.DataFrame({"x": [1.0, 1.0, 2.0, 4.0]})
    first, _ = distribution_skew(train, serving, ["x"], bins=2)["x"]
    assert first == pytest.approx(reference_psi(train["x"], serving["x"], 2), rel=1e-9), "PSI over 2 bins"
    train.loc[:, "x"] = [10.0, 20.0, 30.0, 40.0]  # the same frame object, new training values
    second, _ = distribution_skew(train, serving, ["x"], bins=2)["x"]
    assert second == pytest.approx(reference_psi(train["x"], serving["x"], 2), rel=1e-9), (
        "the training frame changed in place between the calls: the second call takes its edges from the values "
        f"it holds now (nothing is kept from an earlier call, not even for the same frame object); got PSI {second}"
    )


@pytest.mark.parametrize("bins", [2, 5, 20])
def test_bins_is_used(bins):
    rng = np.random.default_rng(bins)
    train = pd.DataFrame({"x": rng.exponential(1.0, 500)})
    serving = pd.DataFrame({"x": rng.exponential(1.3, 500)})
    value, _ = distribution_skew(train, serving, ["x"], bins=bins)["x"]
    assert value == pytest.approx(reference_psi(train["x"], serving["x"], bins), rel=1e-9), f"PSI over {bins} bins"


def test_the_threshold_is_inclusive_and_used():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    serving = pd.DataFrame({"x": [1.0, 1.0, 2.0, 4.0]})
    # the answer's own PSI as the threshold: exact, whatever order its sum was taken in
    value = distribution_skew(train, serving, ["x"], bins=2)["x"][0]
    assert value == pytest.approx(reference_psi(train["x"], serving["x"], 2), rel=1e-9), "PSI over 2 bins"
    assert distribution_skew(train, serving, ["x"], bins=2, threshold=value)["x"][1] == True, (  # noqa: E712
        "PSI equal to the threshold is skew (psi >= threshold)"
    )
    assert distribution_skew(train, serving, ["x"], bins=2, threshold=value * 1.01)["x"][1] == False, (  # noqa: E712
        "PSI just below the threshold is not"
    )
    assert distribution_skew(train, serving, ["x"], bins=2)["x"][1] == (value >= 0.1), "the default threshold is 0.1"


@pytest.mark.parametrize("threshold", [0.1, np.float64(0.1), np.int64(1)], ids=["default", "numpy-float64", "numpy-int64"])
def test_the_report_holds_a_python_float_and_a_python_bool(threshold):
    train = pd.DataFrame({"x": [float(v) for v in range(1, 11)], "y": [float(v) for v in range(1, 11)]})
    serving = pd.DataFrame({"x": [9.0] * 10, "y": [float(v) for v in range(1, 11)]})
    report = distribution_skew(train, serving, ["x", "y"], bins=2, threshold=threshold)
    kinds = {name: (type(psi).__name__, type(skewed).__name__) for name, (psi, skewed) in report.items()}
    assert all(isinstance(psi, float) and type(skewed) is bool for psi, skewed in report.values()), (
        f"threshold={threshold!r}: each feature's report is (a float, a Python bool), never a numpy.bool_ (numpy's "
        f"float64 >= a number gives one: wrap it in bool()); got {kinds}"
    )
    try:
        json.dumps(report)
    except TypeError as error:
        pytest.fail(f"the report goes into a JSON log as it is; json.dumps raised {error}")


@pytest.mark.parametrize("threshold", [1, np.int64(1), np.float32(1.0)], ids=["int", "numpy-int64", "numpy-float32"])
def test_an_integer_threshold_is_a_positive_finite_number(threshold):
    train = pd.DataFrame({"x": [float(v) for v in range(1, 11)]})  # 2 bins split at 5.5
    serving = pd.DataFrame({"x": [9.0] * 50})
    value, skewed = distribution_skew(train, serving, ["x"], bins=2, threshold=threshold)["x"]
    assert skewed == (value >= 1), (
        f"threshold={threshold!r} is a positive finite number like 1.0 (do not demand a Python float, nor a Python "
        f"int: numbers.Real accepts numpy's numbers too): PSI {value:.3f} against 1 gives {value >= 1}; got {skewed}"
    )


@pytest.mark.parametrize("bins", [np.int64(2), np.int32(5), np.uint8(4)],
                         ids=["numpy-int64", "numpy-int32", "numpy-uint8"])
def test_a_numpy_integer_bins_is_an_integer(bins):
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.exponential(1.0, 200)})
    serving = pd.DataFrame({"x": rng.exponential(1.3, 200)})
    value, _ = distribution_skew(train, serving, ["x"], bins=bins)["x"]
    assert value == pytest.approx(reference_psi(train["x"], serving["x"], int(bins)), rel=1e-9), (
        f"bins={bins!r} is an integer like {int(bins)} (read from a config array, say): PSI over {int(bins)} bins, "
        "not a rejection (do not demand a Python int: numbers.Integral accepts numpy's integers too)"
    )


@pytest.mark.parametrize("low, expected", [(33, True), (32, False)])
def test_the_default_threshold_is_0_1(low, expected):
    train = pd.DataFrame({"x": [float(v) for v in range(1, 11)]})  # 2 bins split at 5.5
    serving = pd.DataFrame({"x": [1.0] * low + [9.0] * (50 - low)})
    value, skewed = distribution_skew(train, serving, ["x"], bins=2)["x"]
    assert skewed == expected, (
        f"{low} of 50 serving values in the lower half gives PSI {value:.3f}: "
        f"{'at or above' if expected else 'below'} the default threshold of 0.1"
    )


def test_only_the_named_features_are_reported():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
    assert set(distribution_skew(train, train, ["y"])) == {"y"}, "only the features asked for"
    assert distribution_skew(train, train, ["y"])["y"] == (0.0, False), "identical samples have PSI 0"


def test_columns_not_named_play_no_part():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "note": [np.nan, 1.0, 1.0]})
    serving = pd.DataFrame({"x": [1.0, 2.0, 3.0], "raw": [np.inf, 1.0, 1.0]})
    report = distribution_skew(train, serving, ["x"], bins=2)
    assert report == {"x": (0.0, False)}, (
        "only the named features are checked for NaN and infinity: a NaN or inf in another column is no error; "
        f"got {report}"
    )


@pytest.mark.parametrize("side", ["train", "serving"])
@pytest.mark.parametrize("problem", ["missing", "nan", "inf", "-inf", "empty"])
def test_bad_feature_columns_are_rejected(problem, side):
    frames = {"train": pd.DataFrame({"x": [1.0, 2.0, 3.0]}), "serving": pd.DataFrame({"x": [1.0, 2.0, 3.0]})}
    bad = frames[side]
    if problem == "missing":
        bad = bad.rename(columns={"x": "z"})
    elif problem == "empty":
        bad = bad.iloc[:0]
    else:
        bad.loc[1, "x"] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[problem]
    frames[side] = bad
    error = KeyError if problem == "missing" else ValueError
    with pytest.raises(error):
        distribution_skew(frames["train"], frames["serving"], ["x"])


@pytest.mark.parametrize("kwargs", [{"bins": 1}, {"bins": 0}, {"threshold": 0}, {"threshold": -0.1},
                                    {"threshold": float("nan")}, {"threshold": float("inf")}])
def test_bad_parameters_are_rejected(kwargs):
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError):
        distribution_skew(train, train, ["x"], **kwargs)
    with pytest.raises(ValueError):  # the parameters are checked first, even with no feature to compare
        distribution_skew(train, train, [], **kwargs)


@pytest.mark.parametrize("kwargs, kind, mistake", [
    ({"bins": 2.9}, "an integer", "cut to a whole number with int()"),
    ({"bins": 5.5}, "an integer", "cut to a whole number with int()"),
    ({"bins": "5"}, "an integer", "converted with int()"),
    ({"threshold": "0.1"}, "a number", "converted with float()"),
    ({"threshold": None}, "a number", "replaced by the default"),
], ids=["bins-2.9", "bins-5.5", "bins-text", "threshold-numeric-text", "threshold-none"])
def test_a_parameter_of_the_wrong_kind_is_rejected(kwargs, kind, mistake):
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    (name, value), = kwargs.items()
    for features in (["x"], []):
        try:
            report = distribution_skew(train, train, features, **kwargs)
        except (ValueError, TypeError):
            continue
        pytest.fail(f"{name}={value!r} is not {kind}: it is rejected (ValueError, or TypeError), before any feature is "
                    f"compared and also with features={features}; never {mistake} and used; got {report}")


# Each example checks three features at once (one call costs far more than drawing a sample).
@settings(max_examples=15)
@given(train=st.lists(st.tuples(*[st.integers(0, 20)] * 3), min_size=1, max_size=30),
       serving=st.lists(st.tuples(*[st.integers(0, 25)] * 3), min_size=1, max_size=30), bins=st.integers(2, 6))
def test_psi_matches_the_definition_on_ties_and_small_samples(train, serving, bins):
    names = ["x", "y", "z"]
    report = distribution_skew(pd.DataFrame(train, columns=names), pd.DataFrame(serving, columns=names), names,
                               bins=bins)
    for k, name in enumerate(names):
        train_values, serving_values = [row[k] for row in train], [row[k] for row in serving]
        value, skewed = report[name]
        expected = reference_psi(train_values, serving_values, bins)
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), (
            f"train {train_values}, serving {serving_values}, bins {bins}"
        )
        assert skewed == (value >= 0.1), "skewed is psi >= threshold"
