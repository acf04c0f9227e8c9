"""Task 1: the point-in-time join. Read these tests as the specification."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from features import point_in_time_join

pytestmark = pytest.mark.task(taskno=1)

T0 = pd.Timestamp("2024-03-01 12:00:00")


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def _times(stamps) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(stamps), dtype="datetime64[ns]")  # nanoseconds: the leak test needs them


def labels_frame(rows, index=None) -> pd.DataFrame:
    """rows: (entity, minutes, label)."""
    return pd.DataFrame(
        {"entity_id": [r[0] for r in rows], "event_timestamp": _times(at(r[1]) for r in rows),
         "label": [r[2] for r in rows]},
        index=index,
    )


def features_frame(rows) -> pd.DataFrame:
    """rows: (entity, minutes, value)."""
    return pd.DataFrame(
        {"entity_id": [r[0] for r in rows], "feature_timestamp": _times(at(r[1]) for r in rows),
         "spend_7d": [r[2] for r in rows]}
    )


def missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def values(result: pd.DataFrame, column: str = "spend_7d") -> list:
    return [None if missing(v) else v for v in result[column].tolist()]


def test_each_label_gets_the_newest_feature_at_or_before_its_time():
    features = features_frame([("a", 0, 1.0), ("a", 10, 2.0), ("a", 20, 3.0)])
    labels = labels_frame([("a", 15, 1)])
    result = point_in_time_join(labels, features)
    assert values(result) == [2.0], (
        "at minute 15 the newest value known was the one from minute 10 (2.0), "
        f"not the one from minute 20; got {values(result)}"
    )


def test_a_feature_one_nanosecond_after_the_label_is_a_leak_and_never_used():
    features = features_frame([("a", 0, 1.0)])
    features.loc[1] = ["a", at(15) + pd.Timedelta(nanoseconds=1), 99.0]
    labels = labels_frame([("a", 15, 1)])
    assert values(point_in_time_join(labels, features)) == [1.0], (
        "a feature computed 1 ns after the label's time did not exist yet: using it leaks the future"
    )


def test_a_feature_at_exactly_the_label_time_is_used():
    features = features_frame([("a", 0, 1.0), ("a", 15, 2.0)])
    labels = labels_frame([("a", 15, 1)])
    assert values(point_in_time_join(labels, features)) == [2.0], (
        "feature_time <= label_time: a value written at exactly the label's time counts"
    )


def test_only_rows_of_the_same_entity_are_used():
    features = features_frame([("b", 5, 7.0), ("a", 1, 1.0), ("b", 9, 8.0)])
    labels = labels_frame([("a", 10, 1), ("b", 6, 0), ("c", 10, 1)])
    assert values(point_in_time_join(labels, features)) == [1.0, 7.0, None], (
        "each label takes its own entity's newest value; an entity with no feature rows gets a missing value"
    )


def test_an_empty_labels_frame_still_gets_the_feature_columns():
    features = features_frame([("a", 0, 1.0)])
    features["country"] = ["FR"]
    result = point_in_time_join(labels_frame([]), features)
    assert len(result) == 0 and sorted(result.columns) == sorted(
        ["entity_id", "event_timestamp", "label", "spend_7d", "country"]), (
        "with no label row the result is still the labels' columns plus every feature column, with no row "
        f"(an early return of the labels leaves the feature columns out); got {list(result.columns)}"
    )


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_an_empty_features_frame_gives_missing_values(zone):
    labels = labels_frame([("a", 5, 1)])
    features = features_frame([])
    if zone is not None:
        labels["event_timestamp"] = labels["event_timestamp"].dt.tz_localize(zone)
        features["feature_timestamp"] = features["feature_timestamp"].dt.tz_localize("UTC")
    result = point_in_time_join(labels, features)
    assert values(result) == [None], (
        f"with no feature row at all (times zone {zone}), no row qualifies: the label gets a missing value, "
        f"no error (an empty time column must keep its datetime dtype); got {values(result)}"
    )
    none = point_in_time_join(labels.iloc[:0], features)
    assert len(none) == 0 and "spend_7d" in none.columns, (
        f"no label and no feature row (times zone {zone}): an empty frame with the feature columns; "
        f"got {list(none.columns)} with {len(none)} rows"
    )


def test_an_integer_feature_is_missing_where_no_row_qualifies():
    features = features_frame([("a", 0, 1.0)])
    features["txn_count"] = np.array([5], dtype="int64")
    result = point_in_time_join(labels_frame([("a", 1, 1), ("b", 1, 0), ("a", -1, 1)]), features)
    got = values(result, "txn_count")
    assert got == [5, None, None], (
        "an integer feature column holds a missing value where no row qualifies (entity b has no row, and at minute "
        "-1 nothing of entity a was known yet): 0 is a count someone measured, not 'unknown' (never fill the gap to "
        f"keep the int64 dtype); got {got}"
    )


@pytest.mark.parametrize(("dtype", "big"), [("int64", 2**53 + 1), ("uint64", 2**53 + 1), ("uint64", 2**64 - 1),
                                            ("int32", 2**31 - 1), ("uint32", 2**32 - 1), ("int16", -(2**15))])
def test_integer_feature_values_stay_exact_when_a_label_gets_no_row(dtype, big):
    features = features_frame([("a", 0, 1.0)])
    features["txn_id"] = np.array([big], dtype=dtype)
    labels = labels_frame([("a", 1, 1), ("b", 1, 0), ("a", 1, 1)])
    labels.loc[2, "event_timestamp"] = pd.NaT
    first, *others = point_in_time_join(labels, features)["txn_id"].tolist()
    assert first == big and int(first) == big, (
        f"entity a's row holds the {dtype} value {big}: the label takes exactly that integer, even though other labels "
        f"get no row (a float64 column rounds {big} to {int(float(big))}; keep the values exact, e.g. as a "
        f"nullable integer column); got {first!r}"
    )
    assert isinstance(first, numbers.Integral), (
        f"an integer feature column stays an integer column (every width and sign, not only int64 and uint64: "
        f"{dtype} -> a nullable integer or an object column of ints, never float64) when a label gets no row; "
        f"got {first!r} of type {type(first).__name__}"
    )
    assert all(pd.isna(value) for value in others), (
        f"entity b has no feature row and a label without a time matches none: their {dtype} feature is missing, "
        f"not 0 or any other number; got {others!r}"
    )


def test_a_label_before_every_feature_row_gets_missing_values():
    features = features_frame([("a", 10, 1.0)])
    result = point_in_time_join(labels_frame([("a", 5, 1)]), features)
    assert values(result) == [None], f"nothing was known at minute 5: expected a missing value, got {values(result)}"


def test_ttl_drops_rows_older_than_ttl_and_keeps_the_boundary():
    features = features_frame([("a", 0, 1.0), ("b", 0, 2.0)])
    labels = labels_frame([("a", 30, 1), ("b", 31, 0)])
    result = point_in_time_join(labels, features, ttl=pd.Timedelta(minutes=30))
    assert values(result) == [1.0, None], (
        "with ttl=30 min a value exactly 30 min old is still fresh (feature_time >= label_time - ttl), "
        f"one 31 min old is expired; got {values(result)}"
    )


def test_a_row_with_a_missing_time_matches_nothing():
    features = features_frame([("a", 0, 1.0), ("a", 5, 2.0)])
    features.loc[2] = ["a", pd.NaT, 99.0]  # a feature row whose time was never recorded, last in order
    labels = labels_frame([("a", 10, 1), ("a", 10, 0), ("b", 10, 1)])
    labels.loc[1, "event_timestamp"] = pd.NaT  # a label whose time was never recorded
    result = point_in_time_join(labels, features)
    assert values(result) == [2.0, None, None], (
        "a feature row without a time is never used, and a label without a time gets missing values "
        f"(nothing can be known 'as of' no time); neither raises. Got {values(result)}"
    )


def test_a_timeless_feature_row_is_never_used_and_a_timeless_label_keeps_its_columns():
    features = features_frame([("a", 0, 99.0), ("a", 10, 1.0)])
    features.loc[0, "feature_timestamp"] = pd.NaT  # no time recorded: not "older than everything"
    labels = labels_frame([("a", 5, 1), ("a", 15, 0), ("a", 20, 1)], index=["x", "y", "z"])
    labels.loc["z", "event_timestamp"] = pd.NaT
    result = point_in_time_join(labels, features)
    assert values(result) == [None, 1.0, None], (
        "at minute 5 no timed row exists yet: the row without a time must not stand in as the oldest one "
        f"(NaT is not a very early time), and a label without a time matches nothing; got {values(result)}"
    )
    assert list(result.index) == ["x", "y", "z"], f"every label row is kept with its index; got {list(result.index)}"
    assert result["entity_id"].tolist() == ["a", "a", "a"] and result["label"].tolist() == [1, 0, 1], (
        "a label without a time keeps its own columns (entity, label): only the feature columns are missing; "
        f"got entity {result['entity_id'].tolist()}, label {result['label'].tolist()}"
    )


def test_a_missing_value_in_the_newest_row_stays_missing():
    features = features_frame([("a", 0, 1.0), ("a", 10, float("nan"))])
    features["country"] = ["FR", None]
    result = point_in_time_join(labels_frame([("a", 15, 1)]), features)
    assert values(result) == [None] and values(result, "country") == [None], (
        "the newest row (minute 10) has no spend and no country: those missing values are its values, and the "
        "older row from minute 0 must not stand in for them (drop the rows whose *time* is missing, not every "
        f"row with a missing value); got spend {values(result)}, country {values(result, 'country')}"
    )


def test_a_missing_value_in_the_last_of_rows_sharing_a_time_stays_missing():
    features = features_frame([("a", 10, 1.0), ("a", 10, float("nan"))])
    features["country"] = ["FR", None]
    result = point_in_time_join(labels_frame([("a", 15, 1)]), features)
    assert values(result) == [None] and values(result, "country") == [None], (
        "two rows share the newest time and the last one wins whole: its missing spend and country are its values, "
        "the earlier row of that time must not fill them in (GroupBy.last() skips missing values); "
        f"got spend {values(result)}, country {values(result, 'country')}"
    )


def test_without_ttl_old_values_are_used():
    features = features_frame([("a", 0, 1.0)])
    result = point_in_time_join(labels_frame([("a", 60 * 24 * 365, 1)]), features)
    assert values(result) == [1.0], "without a ttl a value never expires"


def test_ttl_does_not_fall_back_to_an_older_row():
    features = features_frame([("a", 0, 1.0), ("a", 50, 2.0)])
    result = point_in_time_join(labels_frame([("a", 100, 1)]), features, ttl=pd.Timedelta(minutes=30))
    assert values(result) == [None], "the newest row is expired, and older ones are even older: missing"


def test_a_ttl_of_days_counts_every_day():
    features = features_frame([("a", 0, 1.0)])
    day = 60 * 24
    labels = labels_frame([("a", 3 * day, 1), ("a", 7 * day, 0), ("a", 7 * day + 1, 1)])
    result = point_in_time_join(labels, features, ttl=pd.Timedelta(days=7))
    assert values(result) == [1.0, 1.0, None], (
        "with ttl=7 days a value 3 days old and one exactly 7 days old are fresh, one 7 days and a minute old "
        f"is expired (the whole ttl counts, not only its seconds component); got {values(result)}"
    )


def test_a_zero_ttl_keeps_only_values_from_the_label_time_itself():
    features = features_frame([("a", 0, 1.0), ("b", 0, 2.0), ("b", 5, 3.0)])
    labels = labels_frame([("a", 5, 1), ("b", 5, 0)])
    result = point_in_time_join(labels, features, ttl=pd.Timedelta(0))
    assert values(result) == [None, 3.0], (
        f"ttl=0 is a ttl (not 'no ttl'): only a value written at exactly the label's time is fresh; got {values(result)}"
    )


def test_among_many_rows_with_equal_times_the_last_in_feature_order_wins():
    minutes = [(2 * i) % 5 for i in range(25)]  # 0, 2, 4, 1, 3, 0, 2, ...: every time five times over
    features = features_frame([("a", m, float(i)) for i, m in enumerate(minutes)])
    result = point_in_time_join(labels_frame([("a", t, 1) for t in range(5)]), features)
    expected = [float(max(i for i, m in enumerate(minutes) if m == t)) for t in range(5)]
    assert values(result) == expected, (
        "with 25 feature rows the last row of each time must still win a tie: sort with a stable sort "
        f"(kind='mergesort'); expected {expected}, got {values(result)}"
    )


def test_among_rows_with_the_same_time_the_last_in_feature_order_wins():
    features = features_frame([("a", 10, 1.0), ("a", 10, 2.0), ("a", 5, 9.0), ("a", 10, 3.0), ("a", 1, 8.0)])
    result = point_in_time_join(labels_frame([("a", 12, 1)]), features)
    assert values(result) == [3.0], (
        "three rows share the newest time (minute 10): the last one in the features frame (3.0) wins, "
        f"got {values(result)}"
    )


def test_labels_keep_their_order_index_and_columns():
    features = features_frame([("a", 0, 1.0), ("b", 0, 2.0), ("a", 20, 3.0)])
    labels = labels_frame([("a", 30, 1), ("b", 5, 0), ("a", 10, 0)], index=["x", "y", "z"])
    result = point_in_time_join(labels, features)
    assert list(result.index) == ["x", "y", "z"], f"the labels' index and order are kept; got {list(result.index)}"
    assert result["label"].tolist() == [1, 0, 0], "label columns are kept as they were"
    assert result["event_timestamp"].tolist() == labels["event_timestamp"].tolist(), "label times are kept"
    assert values(result) == [3.0, 2.0, 1.0], f"each row gets its own point-in-time value; got {values(result)}"
    assert "feature_timestamp" not in result.columns, "the feature time is not one of the feature columns"
    assert sorted(result.columns) == sorted(["entity_id", "event_timestamp", "label", "spend_7d"]), (
        f"the result holds the labels' columns plus the feature columns, nothing else; got {list(result.columns)}"
    )


def test_the_label_times_are_returned_in_their_own_unit_and_zone():
    labels = labels_frame([("a", 30, 1)])
    labels["event_timestamp"] = labels["event_timestamp"].dt.as_unit("s").dt.tz_localize("Europe/Paris")
    features = features_frame([("a", 0, 1.0)])
    features["feature_timestamp"] = features["feature_timestamp"].dt.tz_localize("UTC")
    result = point_in_time_join(labels, features)
    got, kept = result["event_timestamp"].dtype, labels["event_timestamp"].dtype
    assert got == kept, (
        f"the labels' own columns come back unchanged: label times stay {kept} (compare UTC nanoseconds "
        f"in a copy, not in the returned frame); got {got}"
    )


def test_a_repeated_label_index_is_kept_row_by_row():
    features = features_frame([("a", 0, 1.0), ("a", 20, 3.0)])
    labels = labels_frame([("a", 30, 1), ("a", 10, 0)], index=[7, 7])
    result = point_in_time_join(labels, features)
    assert list(result.index) == [7, 7] and values(result) == [3.0, 1.0], (
        f"rows are matched by position, not by index label; got index {list(result.index)}, values {values(result)}"
    )


def test_a_named_label_index_is_kept():
    features = features_frame([("a", 0, 1.0)])
    labels = labels_frame([("a", 5, 1), ("b", 5, 0)], index=pd.Index(["x", "y"], name="txn_id"))
    result = point_in_time_join(labels, features)
    pd.testing.assert_index_equal(result.index, labels.index, obj="the result's index (labels and name kept)")
    assert values(result) == [1.0, None], f"each label still gets its own entity's value; got {values(result)}"


def test_the_features_index_plays_no_part():
    features = features_frame([("a", 20, 3.0), ("b", 0, 2.0), ("a", 0, 1.0)])
    features.index = [12, 3, 7]  # a filtered, shuffled frame, as after features[features.ok]
    labels = labels_frame([("a", 10, 0), ("b", 5, 1), ("a", 30, 1)])
    assert values(point_in_time_join(labels, features)) == [1.0, 2.0, 3.0], (
        "each feature row's time and values belong together whatever the features' index"
    )


def test_a_repeated_features_index_plays_no_part():
    older = features_frame([("a", 0, 1.0), ("b", 0, 2.0)])
    newer = features_frame([("a", 10, 3.0), ("b", 10, 4.0)])
    features = pd.concat([older, newer])  # index 0, 1, 0, 1: as pd.concat leaves two daily extracts
    labels = labels_frame([("a", 5, 1), ("b", 15, 0), ("a", 15, 1)])
    got = values(point_in_time_join(labels, features))
    assert got == [1.0, 4.0, 3.0], (
        "feature rows are taken by position: a features index that repeats its labels (two frames concatenated) "
        f"plays no part, neither to look rows up nor to put values back; got {got}"
    )


@pytest.mark.parametrize("label_zone, feature_zone", [(None, None), ("Europe/Paris", "UTC")])
def test_time_columns_of_different_resolutions_are_compared_as_times(label_zone, feature_zone):
    labels = labels_frame([("a", 15, 1), ("a", 45, 0)])
    labels["event_timestamp"] = labels["event_timestamp"].dt.as_unit("s")  # e.g. parsed from CSV
    features = features_frame([("a", 0, 1.0), ("a", 10, 2.0)])
    features["feature_timestamp"] = features["feature_timestamp"].dt.as_unit("us")  # e.g. read from Parquet
    if label_zone is not None:  # the same instants, written in two zones
        labels["event_timestamp"] = labels["event_timestamp"].dt.tz_localize("UTC").dt.tz_convert(label_zone)
        features["feature_timestamp"] = features["feature_timestamp"].dt.tz_localize("UTC").dt.tz_convert(feature_zone)
    result = point_in_time_join(labels, features, ttl=pd.Timedelta(minutes=30))
    assert values(result) == [2.0, None], (
        f"datetime64[s] labels ({label_zone or 'naive'}) and datetime64[us] features ({feature_zone or 'naive'}) hold "
        "comparable times: bring both to one unit, aware ones too (after converting them to UTC, seconds are "
        f"still not microseconds); got {values(result)}"
    )
    assert result["event_timestamp"].tolist() == labels["event_timestamp"].tolist(), "label times are kept"


def test_sub_second_times_are_not_rounded_to_the_coarser_unit():
    labels = labels_frame([("a", 15, 1)])
    labels["event_timestamp"] = labels["event_timestamp"].dt.as_unit("s")  # whole seconds
    features = features_frame([("a", 0, 1.0), ("a", 0, 2.0)])
    features.loc[1, "feature_timestamp"] = at(15) + pd.Timedelta(milliseconds=500)
    assert values(point_in_time_join(labels, features)) == [1.0], (
        "a feature from half a second after a datetime64[s] label is from the future: bring both times to "
        "nanoseconds, never the features' times down to the labels' seconds (that rounds the future into the past)"
    )
    labels = labels_frame([("a", 30, 1)])
    labels.loc[0, "event_timestamp"] = at(30) + pd.Timedelta(milliseconds=500)
    features = features_frame([("a", 0, 1.0)])
    features["feature_timestamp"] = features["feature_timestamp"].dt.as_unit("s")
    assert values(point_in_time_join(labels, features, ttl=pd.Timedelta(minutes=30))) == [None], (
        "a datetime64[s] value 30 minutes and half a second older than the label is past a ttl of 30 minutes: "
        "the label's time is not rounded down to the features' seconds either"
    )


def test_the_labels_columns_keep_their_values_and_dtypes():
    labels = pd.DataFrame({"entity_id": np.array([7, 8, 9], dtype="int64"),
                           "event_timestamp": _times([at(10), at(10), pd.NaT]), "label": [True, False, True],
                           "weight": pd.array([1, None, 3], dtype="Int64")})
    features = pd.DataFrame({"entity_id": np.array([8, 7], dtype="int32"),
                             "feature_timestamp": _times([at(0), at(0)]), "spend_7d": [2.0, 1.0]})
    result = point_in_time_join(labels, features)
    assert values(result) == [1.0, 2.0, None], f"each label gets its entity's value; got {values(result)}"
    pd.testing.assert_frame_equal(result[list(labels.columns)], labels,
                                  obj="the labels' own columns in the result (values and dtypes as they were: "
                                      "cast a copy of the entity keys for the join, not the returned column)")


def test_entity_ids_stored_in_different_integer_dtypes_still_match():
    labels = pd.DataFrame({"entity_id": np.array([7, 8], dtype="int64"), "event_timestamp": _times([at(10), at(10)]),
                           "label": [1, 0]})  # e.g. parsed from CSV
    features = pd.DataFrame({"entity_id": np.array([8, 7], dtype="int32"), "feature_timestamp": _times([at(0), at(0)]),
                             "spend_7d": [2.0, 1.0]})  # e.g. read from Parquet
    labels_before, features_before = labels.copy(deep=True), features.copy(deep=True)
    assert values(point_in_time_join(labels, features)) == [1.0, 2.0], (
        "entity 7 is entity 7 whether stored as int64 or int32: cast both key columns to one type before joining"
    )
    pd.testing.assert_frame_equal(labels, labels_before, obj="labels after the join (cast a copy of the keys)")
    pd.testing.assert_frame_equal(features, features_before, obj="features after the join (cast a copy of the keys)")


def test_entity_keys_match_as_equal_values_not_as_text():
    labels = pd.DataFrame({"entity_id": [7.0, 8.5], "event_timestamp": _times([at(10), at(10)]), "label": [1, 0]})
    features = pd.DataFrame({"entity_id": np.array([7, 8], dtype="int64"), "feature_timestamp": _times([at(0), at(0)]),
                             "spend_7d": [1.0, 2.0]})
    got = values(point_in_time_join(labels, features))
    assert got == [1.0, None], (
        "keys match when they are equal values: the float 7.0 is the entity 7 (compared as text, '7.0' is not '7'), "
        f"and 8.5 is no entity of the features (never round a key to the other side's type); got {got}"
    )


def test_a_text_key_never_matches_a_number():
    labels = pd.DataFrame({"entity_id": pd.Series(["7", 7.0], dtype=object), "event_timestamp": _times([at(10), at(10)]),
                           "label": [1, 0]})
    features = pd.DataFrame({"entity_id": np.array([7], dtype="int64"), "feature_timestamp": _times([at(0)]),
                             "spend_7d": [1.0]})
    got = values(point_in_time_join(labels, features))
    assert got == [None, 1.0], (
        "the text '7' is not the number 7 (only the float 7.0 is): keys match as equal values, never through their "
        f"text, not even after writing whole floats as integers; got {got}"
    )


def test_text_entity_keys_match_exactly_as_given():
    features = features_frame([("a", 0, 1.0), ("B", 0, 2.0)])
    labels = labels_frame([("A", 5, 1), ("a ", 5, 0), ("b", 5, 1), ("a", 5, 0), ("B", 5, 1)])
    got = values(point_in_time_join(labels, features))
    assert got == [None, None, None, 1.0, 2.0], (
        "text keys match only when equal as given: 'A' and 'a ' are not the entity 'a', 'b' is not 'B' (never strip "
        f"or case-fold ids before joining: two customers would share features); got {got}"
    )


@pytest.mark.parametrize("label_keys, feature_keys, expected", [
    (np.array([7, 8], dtype="int64"), np.array([7.5, 8.0]), [None, 2.0]),
    (np.array([float(2**53), 5.0]), np.array([2**53 + 1, 5], dtype="int64"), [None, 2.0]),
], ids=["int-labels-float-features", "float-labels-big-int-features"])
def test_feature_keys_are_never_cast_to_the_labels_key_type(label_keys, feature_keys, expected):
    labels = pd.DataFrame({"entity_id": label_keys, "event_timestamp": _times([at(10), at(10)]), "label": [1, 0]})
    features = pd.DataFrame({"entity_id": feature_keys, "feature_timestamp": _times([at(0), at(0)]),
                             "spend_7d": [1.0, 2.0]})
    got = values(point_in_time_join(labels, features))
    assert got == expected, (
        f"label keys {label_keys.tolist()} ({label_keys.dtype}) against feature keys {feature_keys.tolist()} "
        f"({feature_keys.dtype}): only equal values match. Casting the features' keys to the labels' type turns 7.5 "
        f"into 7 and rounds the int64 {2**53 + 1} to the float {float(2**53)}; expected {expected}, got {got}"
    )


@pytest.mark.parametrize("feature_key_dtype", ["int64", "uint64"])
def test_integer_entity_keys_above_2_53_are_not_rounded_together(feature_key_dtype):
    big = 2**53  # e.g. 64-bit hashed ids: as float64, 2**53 + 1 is rounded to 2**53
    labels = pd.DataFrame({"entity_id": np.array([big + 1, big], dtype="int64"),
                           "event_timestamp": _times([at(10), at(10)]), "label": [1, 0]})
    features = pd.DataFrame({"entity_id": np.array([big], dtype=feature_key_dtype),
                             "feature_timestamp": _times([at(0)]), "spend_7d": [1.0]})
    got = values(point_in_time_join(labels, features))
    assert got == [None, 1.0], (
        f"the entity {big + 1} (int64 labels) is not the entity {big} ({feature_key_dtype} features): keys match as "
        "equal values, never cast integer keys to float, not even as the two columns' common type (numpy's common "
        f"type of int64 and uint64 is float64, which rounds both ids to one number); got {got}"
    )


def test_every_feature_column_is_added_with_its_values():
    features = features_frame([("a", 0, 1.0)])
    features["country"] = ["FR"]
    features["last_seen"] = [at(-5)]
    result = point_in_time_join(labels_frame([("a", 1, 1), ("b", 1, 0)]), features)
    assert values(result, "country") == ["FR", None], "text features are joined too"
    assert values(result, "last_seen") == [at(-5), None], "timestamp features are joined too"


def test_feature_columns_named_like_helper_columns_keep_their_values():
    features = features_frame([("a", 0, 1.0), ("b", 5, 2.0)])
    features["time"], features["key"], features["pos"], features["index"] = ["t0", "t1"], ["k0", "k1"], [10, 11], [20, 21]
    result = point_in_time_join(labels_frame([("b", 9, 1), ("a", 9, 0)]), features)
    got = {name: values(result, name) for name in ("spend_7d", "time", "key", "pos", "index")}
    assert got == {"spend_7d": [2.0, 1.0], "time": ["t1", "t0"], "key": ["k1", "k0"], "pos": [11, 10],
                   "index": [21, 20]}, (
        "feature columns named 'time', 'key', 'pos' or 'index' are feature columns like any other: keep the join's "
        f"own helper columns apart from them; got {got}"
    )


def test_a_feature_column_named_like_a_labels_column_takes_its_place():
    features = features_frame([("b", 0, 1.0), ("a", 0, 2.0)])
    features["label"] = ["fb", "fa"]
    labels = labels_frame([("a", 5, 1), ("b", 5, 0), ("c", 5, 1)])
    labels["weight"] = [0.5, 0.6, 0.7]
    result = point_in_time_join(labels, features)
    columns = list(result.columns)
    assert columns == ["entity_id", "event_timestamp", "label", "weight", "spend_7d"], (
        "a feature column named like a labels column ('label') takes that column's place, once, and the other "
        f"feature columns follow the labels' ones: expected ['entity_id', 'event_timestamp', 'label', 'weight', "
        f"'spend_7d'], got {columns}"
    )
    got = values(result, "label")
    assert got == ["fa", "fb", None], (
        "the 'label' column should hold the joined feature values ('fa' for a, 'fb' for b, missing for c, which has "
        f"no feature row), not the labels' own; got {got}"
    )


def test_timezone_aware_feature_values_are_taken_as_they_are():
    features = features_frame([("a", 0, 1.0)])
    seen = pd.Timestamp("2024-03-01 12:00", tz="Europe/Paris")
    features["last_seen"] = pd.DatetimeIndex([seen])
    result = point_in_time_join(labels_frame([("a", 1, 1), ("b", 1, 0)]), features)
    got = values(result, "last_seen")
    assert got[1] is None and got[0] == seen and getattr(got[0], "tz", None) is not None, (
        "an aware feature value keeps its instant and its time zone (12:00 in Paris is not a naive 11:00); "
        f"got {got}"
    )


def test_neither_input_is_modified_and_a_new_frame_is_returned():
    features = features_frame([("a", 20, 3.0), ("a", 0, 1.0)])
    labels = labels_frame([("a", 30, 1), ("a", 10, 0)], index=[5, 3])
    labels_before, features_before = labels.copy(deep=True), features.copy(deep=True)
    result = point_in_time_join(labels, features)
    pd.testing.assert_frame_equal(labels, labels_before, obj="labels after the join")
    pd.testing.assert_frame_equal(features, features_before, obj="features after the join")
    assert result is not labels and "spend_7d" not in labels.columns, "the result is a new frame"


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_time_columns_of_other_units_and_zones_are_not_converted_in_the_inputs(zone):
    labels = labels_frame([("a", 30, 1)])
    labels["event_timestamp"] = labels["event_timestamp"].dt.as_unit("s")
    features = features_frame([("a", 0, 1.0)])
    features["feature_timestamp"] = features["feature_timestamp"].dt.as_unit("us")
    if zone:
        labels["event_timestamp"] = labels["event_timestamp"].dt.tz_localize(zone)
        features["feature_timestamp"] = features["feature_timestamp"].dt.tz_localize(zone)
    labels_before, features_before = labels.copy(deep=True), features.copy(deep=True)
    point_in_time_join(labels, features)
    pd.testing.assert_frame_equal(labels, labels_before, obj="labels after the join (convert a copy of the times)")
    pd.testing.assert_frame_equal(features, features_before, obj="features after the join (convert a copy of the times)")


def test_a_second_join_sees_rows_added_to_the_same_features_frame():
    features = features_frame([("a", 0, 1.0)])
    labels = labels_frame([("a", 10, 1)])
    first = values(point_in_time_join(labels, features))
    assert first == [1.0], f"the only row (minute 0) is the newest at minute 10; got {first}"
    features.loc[1] = ["a", at(5), 2.0]  # the same frame object, one row newer
    second = values(point_in_time_join(labels, features))
    assert second == [2.0], (
        "each call reads the frames as they are at that call: the row added at minute 5 is now the newest; "
        f"nothing may be cached from the first join; got {second}"
    )


def test_a_second_join_sees_times_and_values_changed_in_place():
    features = features_frame([("a", 0, 1.0), ("a", 5, 2.0)])
    labels = labels_frame([("a", 10, 1)])
    first = values(point_in_time_join(labels, features))
    assert first == [2.0], f"the row from minute 5 is the newest at minute 10; got {first}"
    features.loc[1, "feature_timestamp"] = at(15)  # the same frame, same shape: a time corrected in place
    features.loc[0, "spend_7d"] = 7.0
    second = values(point_in_time_join(labels, features))
    assert second == [7.0], (
        "each call reads the frames as they are at that call: the row now timed at minute 15 is from the "
        f"future and the minute-0 row now holds 7.0; nothing may be reused from the first join; got {second}"
    )


def test_a_second_join_sees_a_value_corrected_in_place():
    features = features_frame([("a", 0, 1.0), ("b", 0, 2.0)])
    labels = labels_frame([("a", 10, 1), ("b", 10, 0)])
    first = values(point_in_time_join(labels, features))
    assert first == [1.0, 2.0], f"each entity's only row is the newest at minute 10; got {first}"
    features.loc[0, "spend_7d"] = 7.0  # a value corrected in place: same frame, same entities and times
    second = values(point_in_time_join(labels, features))
    assert second == [7.0, 2.0], (
        "each call reads the frames as they are at that call: entity a's row now holds 7.0. Unchanged entity and "
        "time columns do not make an earlier join's values reusable (a cache keyed on them serves the old 1.0); "
        f"got {second}"
    )


def test_a_second_join_of_the_same_frames_uses_its_own_ttl():
    features = features_frame([("a", 0, 1.0), ("b", 20, 2.0)])
    labels = labels_frame([("a", 30, 1), ("b", 30, 0)])
    first = values(point_in_time_join(labels, features))
    assert first == [1.0, 2.0], f"without a ttl each entity's only row is used; got {first}"
    second = values(point_in_time_join(labels, features, ttl=pd.Timedelta(minutes=15)))
    assert second == [None, 2.0], (
        "the same two frames joined again with ttl=15 min: entity a's value is 30 min old and expired, entity b's "
        "is 10 min old and fresh. Each call uses its own arguments: a result remembered from a join of the same "
        f"frames with another ttl is stale; got {second}"
    )
    third = values(point_in_time_join(labels, features, ttl=pd.Timedelta(minutes=5)))
    assert third == [None, None], f"and with ttl=5 min both values are expired; got {third}"


def test_a_second_join_sees_labels_changed_in_place():
    features = features_frame([("a", 0, 1.0), ("a", 10, 2.0), ("b", 0, 5.0)])
    labels = labels_frame([("a", 5, 1), ("b", 5, 0)])
    first = values(point_in_time_join(labels, features))
    assert first == [1.0, 5.0], f"at minute 5 each entity's minute-0 row is the newest; got {first}"
    labels.loc[0, "event_timestamp"] = at(15)  # the same labels frame, same shape: a time and an entity corrected
    labels.loc[1, "entity_id"] = "a"
    second = values(point_in_time_join(labels, features))
    assert second == [2.0, 1.0], (
        "each call reads the labels as they are at that call too: the first label is now at minute 15 (entity a's "
        "minute-10 row) and the second now belongs to entity a; nothing prepared from the labels may be reused "
        f"from the first join; got {second}"
    )


def test_one_time_column_name_on_both_sides_keeps_the_labels_times():
    labels = pd.DataFrame({"entity_id": ["a", "a"], "event_timestamp": _times([at(5), at(15)]), "label": [1, 0]})
    features = pd.DataFrame({"entity_id": ["a", "a"], "event_timestamp": _times([at(0), at(10)]), "spend_7d": [1.0, 2.0]})
    result = point_in_time_join(labels, features, feature_time="event_timestamp")  # as in Feast, both sides' name
    assert values(result) == [1.0, 2.0], f"each label still gets its point-in-time value; got {values(result)}"
    assert sorted(result.columns) == ["entity_id", "event_timestamp", "label", "spend_7d"], (
        "when the features' time column has the labels' time column's name, the labels' column stays in the result "
        f"(only the features' copy is left out: never drop the feature time by name after a merge); got {list(result.columns)}"
    )
    assert result["event_timestamp"].tolist() == labels["event_timestamp"].tolist(), (
        f"the labels' own times come back, not the features' times; got {result['event_timestamp'].tolist()}"
    )


def test_custom_column_names_are_used():
    labels = pd.DataFrame({"card": ["a"], "ts": [at(10)], "y": [1]})
    features = pd.DataFrame({"card": ["a", "a"], "computed_at": [at(0), at(11)], "spend_7d": [1.0, 2.0]})
    result = point_in_time_join(labels, features, entity="card", label_time="ts", feature_time="computed_at")
    assert values(result) == [1.0], "the entity and time columns are the ones named in the call"
    assert "computed_at" not in result.columns, "the named feature time is not a feature column"


@pytest.mark.parametrize("side, column", [("labels", "entity_id"), ("labels", "event_timestamp"),
                                          ("features", "entity_id"), ("features", "feature_timestamp")])
def test_a_missing_column_raises_keyerror_naming_it(side, column):
    labels = labels_frame([("a", 1, 1)])
    features = features_frame([("a", 0, 1.0)])
    frames = {"labels": labels, "features": features}
    frames[side] = frames[side].drop(columns=[column])
    with pytest.raises(KeyError, match=column):
        point_in_time_join(frames["labels"], frames["features"])


@pytest.mark.parametrize("empty_side", [None, "labels", "features"])
@pytest.mark.parametrize("aware_side", ["labels", "features"])
def test_tz_aware_mixed_with_naive_timestamps_raises_valueerror(aware_side, empty_side):
    labels = labels_frame([] if empty_side == "labels" else [("a", 1, 1)])
    features = features_frame([] if empty_side == "features" else [("a", 0, 1.0)])
    if aware_side == "labels":
        labels["event_timestamp"] = labels["event_timestamp"].dt.tz_localize("UTC")
    else:
        features["feature_timestamp"] = features["feature_timestamp"].dt.tz_localize("UTC")
    try:
        point_in_time_join(labels, features)
    except ValueError:
        return
    pytest.fail(f"aware {aware_side} times against naive ones (empty frame: {empty_side}) raise ValueError: the "
                "columns' dtypes disagree even with no row to compare (check the zones yourself, do not wait for "
                "merge_asof or a comparison to fail)")


def test_tz_aware_times_in_different_zones_compare_as_instants():
    labels = labels_frame([("a", 0, 1)])
    labels["event_timestamp"] = labels["event_timestamp"].dt.tz_localize("Europe/Paris")  # 11:00 UTC
    features = features_frame([("a", -61, 1.0), ("a", -59, 2.0)])
    features["feature_timestamp"] = features["feature_timestamp"].dt.tz_localize("UTC")  # 10:59 and 11:01 UTC
    assert values(point_in_time_join(labels, features)) == [1.0], (
        "12:00 in Paris is 11:00 UTC: the value from 11:01 UTC is in the future"
    )


def test_times_across_a_daylight_saving_change_compare_as_instants():
    # 2024-10-27 in Paris the clocks go back from 03:00 (CEST) to 02:00 (CET): 02:30 happens twice
    paris = pd.DatetimeIndex(["2024-10-27 00:40", "2024-10-27 00:20", "2024-10-27 01:30"]).tz_localize("UTC") \
        .tz_convert("Europe/Paris")  # 02:40 CEST, 02:20 CEST, 02:30 CET
    labels = pd.DataFrame({"entity_id": ["a"], "event_timestamp": paris[:1], "label": [1]})
    features = pd.DataFrame({"entity_id": ["a", "a"], "feature_timestamp": paris[1:], "spend_7d": [1.0, 2.0]})
    assert values(point_in_time_join(labels, features)) == [1.0], (
        "02:30 CET (01:30 UTC) comes 50 minutes after the label at 02:40 CEST (00:40 UTC): it is from the "
        "future even though its wall clock reads earlier; compare instants (UTC), never wall-clock times"
    )


# --- fuzzing against a brute-force reading of the contract --------------------------------


def brute_force(label_rows, feature_rows, ttl_minutes):
    """The contract read literally, in whole minutes: scan every feature row for every label.
    Feature row i carries the value float(i), so the answer names the row taken."""
    out = []
    for entity, minute, _ in label_rows:
        best = None
        for pos, (feature_entity, feature_minute) in enumerate(feature_rows):
            if feature_entity != entity or feature_minute > minute:
                continue
            if ttl_minutes is not None and feature_minute < minute - ttl_minutes:
                continue
            if best is None or feature_minute >= feature_rows[best][1]:
                best = pos
        out.append(None if best is None else float(best))
    return out


rows = st.tuples(st.sampled_from("abc"), st.integers(0, 12), st.integers(0, 1))


def side_by_side(worlds):
    """Independent small worlds in one pair of frames: world k's entities are renamed "k<name>",
    so one join answers for all of them and each still sees only its own rows."""
    labels = [(f"{k}{e}", m, y) for k, (world_labels, _) in enumerate(worlds) for e, m, y in world_labels]
    features = [(f"{k}{e}", m) for k, (_, world_features) in enumerate(worlds) for e, m in world_features]
    return labels, features


# Each example joins three to six small worlds at once (a join costs far more than drawing one).
# The shapes random frames reach least often are always tried first: two rows of one entity at
# one time (the last one wins), and that newest time exactly `ttl` before the label (still fresh).
@settings(max_examples=8)
@given(
    worlds=st.lists(st.tuples(st.lists(rows, max_size=8),
                              st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 12)), max_size=10)),
                    min_size=3, max_size=6).map(side_by_side),
    ttl_minutes=st.one_of(st.none(), st.integers(0, 6)),
    index_offset=st.integers(-3, 3),
)
@example(worlds=([("a", 7, 1), ("b", 9, 0)], [("a", 3), ("b", 2), ("a", 3), ("a", 8)]),
         ttl_minutes=None, index_offset=1)
@example(worlds=([("b", 6, 0), ("a", 10, 1)], [("a", 1), ("a", 6), ("a", 6), ("b", 2)]),
         ttl_minutes=4, index_offset=-2)
def test_matches_a_brute_force_reading_of_the_contract(worlds, ttl_minutes, index_offset):
    label_rows, feature_rows = worlds
    labels = labels_frame(label_rows, index=[index_offset * 10 - i for i in range(len(label_rows))])
    # each feature row has a distinct value, so the test can see exactly which row was taken
    features = features_frame([(e, m, float(i)) for i, (e, m) in enumerate(feature_rows)])
    features.index = [5 * index_offset - 2 * i for i in range(len(feature_rows))]  # the features' index plays no part
    ttl = None if ttl_minutes is None else pd.Timedelta(minutes=ttl_minutes)
    result = point_in_time_join(labels, features, ttl=ttl)
    assert list(result.index) == list(labels.index), "the labels' index and order are kept"
    assert values(result) == brute_force(label_rows, feature_rows, ttl_minutes), (
        f"labels {label_rows}, features {feature_rows}, ttl {ttl_minutes} min: got {values(result)}"
    )


# The brute-force test above is the thorough fuzz; this one pins the meaning to pandas' own
# as-of join, and a few examples of several worlds each do that.
@settings(max_examples=5)
@given(worlds=st.lists(st.tuples(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 60), st.just(0)),
                                          min_size=1, max_size=8),
                                 st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 50)), min_size=1,
                                          max_size=12, unique_by=lambda r: r[1])),
                       min_size=3, max_size=5).map(side_by_side))
def test_agrees_with_pandas_merge_asof(worlds):
    label_rows, feature_rows = worlds
    features = features_frame([(e, m, float(i)) for i, (e, m) in enumerate(feature_rows)])
    labels = labels_frame(label_rows)
    expected = pd.merge_asof(
        labels.reset_index().sort_values("event_timestamp", kind="mergesort"),
        features.sort_values("feature_timestamp"), left_on="event_timestamp", right_on="feature_timestamp",
        by="entity_id", direction="backward", allow_exact_matches=True,
    ).set_index("index").loc[labels.index]
    result = point_in_time_join(labels, features)
    assert values(result) == values(expected), "merge_asof(direction='backward') is the reference for this case"
