"""Task 1: the held-out metric, overall and per slice. Read these tests as the specification."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, roc_auc_score

from gate import score, slice_scores

pytestmark = pytest.mark.task(taskno=1)


class ColumnModel:
    """A stand-in classifier: the positive class's probability is the column `p`, clipped to [0, 1]."""

    def __init__(self, column: str = "p", threshold: float = 0.5) -> None:
        self.column = column
        self.threshold = threshold
        self.calls = 0

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        p = np.clip(X[self.column].to_numpy(dtype=float), 0, 1)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)


def frame():
    X = pd.DataFrame({"p": [0.9, 0.2, 0.6, 0.4, 0.8, 0.1, 0.7, 0.3],
                      "q": [0.1, 0.9, 0.2, 0.8, 0.4, 0.6, 0.3, 0.7],
                      "region": ["north", "north", "north", "south", "south", "south", "west", "west"]})
    y = np.array([1, 0, 0, 1, 1, 0, 1, 1])
    return X, y


def test_roc_auc_is_the_default_and_uses_the_probabilities():
    X, y = frame()
    expected = roc_auc_score(y, X["p"])
    assert score(ColumnModel(), X, y) == pytest.approx(expected, abs=1e-12), (
        "the default metric is roc_auc, computed from predict_proba(X)[:, 1]")


def test_a_metric_name_read_from_a_config_file_is_recognised():
    X, y = frame()
    metric = json.loads('{"metric": "roc_auc"}')["metric"]  # an equal string, but not the literal's object
    assert score(ColumnModel(), X, y, metric=metric) == pytest.approx(roc_auc_score(y, X["p"]), abs=1e-12), (
        "a metric named in a config file or on the command line is the same metric: compare names with ==, "
        "never with `is` (which asks whether two strings are one object, not whether they are equal)")
    sliced = slice_scores(ColumnModel(), X, y, "region", metric=metric)
    assert set(sliced) == {"north", "south"}, (
        f"with roc_auc read from a config file, the west slice (one class) is left out as usual: {sliced}")


def test_accuracy_uses_the_predictions():
    X, y = frame()
    expected = accuracy_score(y, (X["p"] >= 0.5).astype(int))
    got = score(ColumnModel(), X, y, metric="accuracy")
    assert got == pytest.approx(expected, abs=1e-12), f"accuracy should be {expected} (from predict), not {got}"
    assert isinstance(got, float), f"score returns a float, not {type(got).__name__}"


def test_accuracy_comes_from_predict_not_from_a_threshold_on_the_probabilities():
    X, y = frame()
    model = ColumnModel(threshold=0.65)  # a tuned decision threshold: predict is not probability >= 0.5
    expected = accuracy_score(y, (X["p"] >= 0.65).astype(int))
    assert expected != accuracy_score(y, (X["p"] >= 0.5).astype(int)), "setup: the two thresholds disagree"
    got = score(model, X, y, metric="accuracy")
    assert got == pytest.approx(expected, abs=1e-12), (
        f"accuracy compares the labels with model.predict(X), whatever threshold the model uses: "
        f"expected {expected}, got {got}")
    sliced = slice_scores(model, X, y, "region", metric="accuracy")
    north = (X["region"] == "north").to_numpy()
    assert sliced["north"] == pytest.approx(accuracy_score(y[north], (X["p"][north] >= 0.65).astype(int)),
                                            abs=1e-12), f"per slice too, accuracy comes from predict: {sliced}"


def test_the_model_is_scored_not_the_labels_or_another_column():
    X, y = frame()
    assert score(ColumnModel("q"), X, y) == pytest.approx(roc_auc_score(y, X["q"]), abs=1e-12), (
        "score must use what the model given predicts")


@pytest.mark.parametrize("metric", ["auc", "ROC_AUC", "f1", "", " accuracy", "roc_auc\n"])
def test_an_unknown_metric_is_a_value_error(metric):
    X, y = frame()
    with pytest.raises(ValueError):
        score(ColumnModel(), X, y, metric=metric)
    with pytest.raises(ValueError):
        slice_scores(ColumnModel(), X, y, "region", metric=metric)


def test_no_rows_or_mismatched_labels_are_value_errors():
    X, y = frame()
    with pytest.raises(ValueError):
        score(ColumnModel(), X.iloc[:0], y[:0])
    with pytest.raises(ValueError):
        score(ColumnModel(), X, y[:-1])
    with pytest.raises(ValueError):
        slice_scores(ColumnModel(), X, y[:-1], "region")
    with pytest.raises(ValueError):  # one label more than rows, too
        score(ColumnModel(), X.iloc[:-1], y)
    with pytest.raises(ValueError):
        slice_scores(ColumnModel(), X.iloc[:-1], y, "region")
    with pytest.raises(ValueError):  # same rules: no rows is an error, not an empty result
        slice_scores(ColumnModel(), X.iloc[:0], y[:0], "region")


def test_every_slice_is_scored_on_its_own_rows():
    X, y = frame()
    got = slice_scores(ColumnModel(), X, y, "region", metric="accuracy")
    expected = {r: accuracy_score(y[(X["region"] == r).to_numpy()], (X["p"][X["region"] == r] >= 0.5).astype(int))
                for r in ("north", "south", "west")}
    assert set(got) == set(expected), f"one entry per region value: expected {sorted(expected)}, got {sorted(got)}"
    for region, value in expected.items():
        assert got[region] == pytest.approx(value, abs=1e-12), (
            f"accuracy of the {region!r} rows should be {value}, not {got[region]}")


def test_a_slice_where_auc_is_undefined_is_left_out():
    X, y = frame()
    got = slice_scores(ColumnModel(), X, y, "region")
    assert "west" not in got, f"the west rows hold one class only, so their ROC AUC is undefined: leave it out ({got})"
    north = (X["region"] == "north").to_numpy()
    assert got["north"] == pytest.approx(roc_auc_score(y[north], X["p"][north]), abs=1e-12), "north's ROC AUC"
    assert set(got) == {"north", "south"}, f"north and south both hold two classes: {got}"


def test_labels_are_matched_by_position_not_index():
    X, y = frame()
    X = X.set_axis([70, 10, 60, 20, 50, 30, 40, 0])
    labels = pd.Series(y, index=[0, 10, 20, 30, 40, 50, 60, 70])  # another index, same order
    got = slice_scores(ColumnModel(), X, labels, "region", metric="accuracy")
    assert got == slice_scores(ColumnModel(), X.reset_index(drop=True), y, "region", metric="accuracy"), (
        "the i-th label belongs to the i-th row, whatever the index says")
    assert score(ColumnModel(), X, labels) == pytest.approx(roc_auc_score(y, X["p"]), abs=1e-12), (
        "score matches labels to rows by position too")


def test_a_repeated_index_is_matched_by_position_too():
    X, y = frame()
    X = pd.concat([X.iloc[:4], X.iloc[4:].set_axis(range(4))])  # index 0..3 twice, as pd.concat leaves it
    labels = pd.Series(y, index=X.index)
    expected = slice_scores(ColumnModel(), X.reset_index(drop=True), y, "region", metric="accuracy")
    got = slice_scores(ColumnModel(), X, labels, "region", metric="accuracy")
    assert got == expected, (
        f"rows and labels are matched by position even when index labels repeat (after pd.concat without "
        f"ignore_index): each slice holds its own rows and their labels once, {expected}, not {got}")
    assert slice_scores(ColumnModel(), X, labels, "region") == slice_scores(
        ColumnModel(), X.reset_index(drop=True), y, "region"), "the same with roc_auc"
    assert score(ColumnModel(), X, labels) == pytest.approx(roc_auc_score(y, X["p"]), abs=1e-12), (
        "score matches labels to rows by position with a repeated index too")


def test_labels_may_be_a_plain_list():
    X, y = frame()
    labels = y.tolist()
    assert score(ColumnModel(), X, labels) == pytest.approx(roc_auc_score(y, X["p"]), abs=1e-12), (
        "labels given as a list are matched to the rows by position")
    got = slice_scores(ColumnModel(), X, labels, "region", metric="accuracy")
    assert got == slice_scores(ColumnModel(), X, y, "region", metric="accuracy"), (
        f"slice_scores takes its labels as a list too, and scores each slice as with an array: {got}")


def test_a_missing_slice_column_is_a_key_error():
    X, y = frame()
    with pytest.raises(KeyError):
        slice_scores(ColumnModel(), X, y, "country")


def test_rows_without_a_slice_value_are_a_value_error():
    X, y = frame()
    X.loc[2, "region"] = None
    with pytest.raises(ValueError):
        slice_scores(ColumnModel(), X, y, "region")


def test_a_numeric_slice_column_keeps_its_values_as_keys():
    X, y = frame()
    for dtype in ("int64", "int32", "uint8"):
        X["store"] = pd.Series([3, 3, 3, 7, 7, 7, 12, 12], dtype=dtype)
        got = slice_scores(ColumnModel(), X, y, "store", metric="accuracy")
        assert sorted(got) == [3, 7, 12] and all(type(key) is int for key in got), (
            f"an {dtype} column: the keys are its values themselves as Python ints (3, 7, 12), not their text nor "
            f"NumPy integers (json.dumps refuses those as keys): {[(key, type(key).__name__) for key in got]}")
    X.loc[4, "store"] = np.nan
    with pytest.raises(ValueError):
        slice_scores(ColumnModel(), X, y, "store")  # a NaN in a numeric column is a row without a slice


def test_a_boolean_slice_column_gives_python_bool_keys():
    X, y = frame()
    X["mobile"] = [True, True, True, True, False, False, False, False]
    got = slice_scores(ColumnModel(), X, y, "mobile", metric="accuracy")
    assert sorted(got) == [False, True] and all(type(key) is bool for key in got), (
        f"a boolean column: the keys are its values as Python bools (True, False), not numpy.bool_ (json.dumps "
        f"refuses those as keys): {[(key, f'{type(key).__module__}.{type(key).__qualname__}') for key in got]}")
    mobile = X["mobile"].to_numpy()
    assert got[True] == pytest.approx(accuracy_score(y[mobile], (X["p"][mobile] >= 0.5).astype(int)), abs=1e-12), (
        f"the True slice is scored on the rows that hold True: {got}")
    try:
        json.dumps(got)
    except TypeError as error:
        pytest.fail(f"json.dumps of the slice scores of a boolean column fails ({error}): {got}")


def test_a_category_that_no_row_holds_is_not_a_slice():
    X, y = frame()
    plain = X.copy()
    # A categorical column keeps every category it was made with: here east, which no held-out row holds,
    # as after splitting a frame whose region was made categorical before the split.
    X["region"] = pd.Categorical(X["region"], categories=["east", "north", "south", "west"])
    for metric in ("accuracy", "roc_auc"):
        got = slice_scores(ColumnModel(), X, y, "region", metric=metric)
        expected = slice_scores(ColumnModel(), plain, y, "region", metric=metric)
        assert set(got) == set(expected), (
            f"{metric}: the slices are the values that occur in the column ({sorted(expected)}), not every "
            f"category of its dtype (east has no row: it is no slice, not an empty one): {sorted(got)}")
        for value in expected:
            assert got[value] == pytest.approx(expected[value], abs=1e-12), (
                f"{metric} of slice {value!r} with a categorical column, as with a plain one")


def test_the_inputs_are_not_modified():
    X, y = frame()
    X = X.set_axis([70, 10, 60, 20, 50, 30, 40, 0])  # an index that is not 0..n-1, as after a shuffle
    labels = pd.Series(y, index=X.index)
    before_X, before_labels = X.copy(), labels.copy()
    slice_scores(ColumnModel(), X, labels, "region")
    score(ColumnModel(), X, labels)
    score(ColumnModel(), X, labels, metric="accuracy")
    pd.testing.assert_frame_equal(X, before_X, obj="the held-out rows after scoring (values, columns and index)")
    pd.testing.assert_series_equal(labels, before_labels, obj="the labels after scoring (values and index)")


@settings(max_examples=40)
@given(st.lists(st.tuples(st.floats(0, 1), st.sampled_from("abc"), st.integers(0, 1)), min_size=1, max_size=30))
def test_slices_agree_with_scoring_each_slice_alone(rows):
    X = pd.DataFrame({"p": [r[0] for r in rows], "segment": [r[1] for r in rows]})
    y = np.array([r[2] for r in rows])
    for metric in ("accuracy", "roc_auc"):
        got = slice_scores(ColumnModel(), X, y, "segment", metric=metric)
        expected = {}
        for value in X["segment"].unique():
            rows_of = (X["segment"] == value).to_numpy()
            if metric == "roc_auc" and len(set(y[rows_of])) < 2:
                continue
            expected[value] = score(ColumnModel(), X[rows_of], y[rows_of], metric=metric)
        assert got.keys() == expected.keys(), f"{metric}: slices {sorted(got)} instead of {sorted(expected)}"
        for value in expected:
            assert got[value] == pytest.approx(expected[value], abs=1e-12), f"{metric} of slice {value!r}"
