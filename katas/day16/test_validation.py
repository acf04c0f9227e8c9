"""Task 2: batch validation with quarantine. Read these tests as the specification."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from validation import Column, Violation, validate_batch

pytestmark = pytest.mark.task(taskno=2)

SCHEMA = {
    "txn_id": Column("str", unique=True),
    "amount": Column("float", min=0.0, max=10_000.0),
    "country": Column("str", allowed={"FR", "DE", "US"}),
    "items": Column("int", nullable=True, min=1),
}


def batch(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"txn_id": ["t1", "t2", "t3", "t4"], "amount": [10.0, 20.5, 0.0, 10_000.0],
         "country": ["FR", "DE", "US", "FR"], "items": [1, 2, 3, 4]},
        index=[100, 101, 102, 103],
    )
    for name, values in overrides.items():
        frame[name] = values
    return frame


def found(result) -> set[tuple[str, str, tuple]]:
    return {(v.column, v.check, tuple(v.rows)) for v in result.violations}


def test_a_clean_batch_is_accepted_whole():
    result = validate_batch(batch(), SCHEMA)
    assert result.ok and result.violations == [], f"a clean batch has no violation; got {result.violations}"
    pd.testing.assert_frame_equal(result.accepted, batch(), obj="accepted rows of a clean batch")
    assert len(result.quarantined) == 0 and result.reasons == {}, "nothing is quarantined"


def test_bounds_are_inclusive_and_values_outside_are_caught():
    result = validate_batch(batch(amount=[-0.01, 0.0, 10_000.0, 10_000.01]), SCHEMA)
    assert found(result) == {("amount", "min", (100,)), ("amount", "max", (103,))}, (
        f"min and max are inclusive: 0.0 and 10000.0 pass, -0.01 and 10000.01 do not; got {found(result)}"
    )
    assert not result.ok, "a batch with violations is not ok"
    at_zero = validate_batch(pd.DataFrame({"n": [0, 1, -1]}), {"n": Column("int", min=0, max=0)})
    assert found(at_zero) == {("n", "min", (2,)), ("n", "max", (1,))}, (
        f"a bound of 0 is a bound (not 'no bound'): 0 passes, 1 and -1 do not; got {found(at_zero)}"
    )


def test_a_missing_value_breaks_null_and_no_other_rule():
    result = validate_batch(batch(amount=[np.nan, 5.0, 6.0, 7.0], country=[None, "FR", "FR", "FR"],
                                  txn_id=["t1", None, "t3", None]), SCHEMA)
    assert found(result) == {("amount", "null", (100,)), ("country", "null", (100,)),
                             ("txn_id", "null", (101, 103))}, (
        "NaN and None break 'null' only: not min/max, not allowed, and two missing ids are not duplicates; "
        f"got {found(result)}"
    )


def test_nullable_columns_accept_missing_values():
    frame = batch(items=pd.array([1, None, 3, None], dtype="Int64"))
    result = validate_batch(frame, SCHEMA)
    assert result.ok, f"'items' is nullable: missing values there are fine; got {result.violations}"
    assert list(result.accepted.index) == [100, 101, 102, 103] and len(result.quarantined) == 0, (
        "a row whose only gap is in a nullable column broke no rule: it is accepted, not quarantined; "
        f"got accepted {list(result.accepted.index)}, quarantined {list(result.quarantined.index)}"
    )


def test_infinity_is_a_value_not_a_missing_one():
    result = validate_batch(batch(amount=[np.inf, 1.0, 2.0, 3.0]), SCHEMA)
    assert found(result) == {("amount", "max", (100,))}, f"inf is present and above max; got {found(result)}"


def test_an_empty_text_is_a_value_not_a_missing_one():
    result = validate_batch(batch(country=["", "FR", " ", "US"]), SCHEMA)
    assert found(result) == {("country", "allowed", (100, 102))}, (
        "only None, NaN, NaT and pd.NA are missing values: an empty or blank text is a value (here one outside the "
        f"allowed set), not a 'null'; got {found(result)}"
    )


def test_values_outside_the_allowed_set_are_caught():
    result = validate_batch(batch(country=["FR", "fr", "GB", "US"]), SCHEMA)
    assert found(result) == {("country", "allowed", (101, 102))}, (
        f"'fr' and 'GB' are not in the allowed set (it is case-sensitive); got {found(result)}"
    )
    result = validate_batch(batch(country=["FR ", "DE", " US", "FR\n"]), SCHEMA)
    assert found(result) == {("country", "allowed", (100, 102, 103))}, (
        "'FR ', ' US' and 'FR\\n' are not in the allowed set: values are checked as they are, never stripped of "
        f"whitespace first; got {found(result)}"
    )


def test_an_empty_allowed_set_allows_no_value():
    schema = {"country": Column("str", nullable=True, allowed=set())}
    result = validate_batch(pd.DataFrame({"country": ["FR", None, "DE"]}), schema)
    assert found(result) == {("country", "allowed", (0, 2))}, (
        f"allowed=set() allows nothing (only allowed=None means any value); got {found(result)}"
    )


def test_every_occurrence_of_a_duplicate_is_reported():
    result = validate_batch(batch(txn_id=["t1", "t2", "t1", "t1"]), SCHEMA)
    assert found(result) == {("txn_id", "unique", (100, 102, 103))}, (
        f"all three rows holding 't1' are duplicates, the first one too; got {found(result)}"
    )


def test_a_value_breaking_one_rule_is_still_checked_against_the_others():
    schema = {"n": Column("int", min=0, max=5, allowed={-1, 1}, unique=True)}
    result = validate_batch(pd.DataFrame({"n": [-1, 1, -1, 9]}), schema)
    assert found(result) == {("n", "min", (0, 2)), ("n", "unique", (0, 2)), ("n", "max", (3,)),
                             ("n", "allowed", (3,))}, (
        "every rule of a column is checked on every value: -1 breaks min and is still a duplicate, 9 breaks max "
        f"and is still outside the allowed set; got {found(result)}"
    )
    assert sorted(result.reasons[0]) == ["n:min", "n:unique"], f"row 0 broke min and unique; got {result.reasons[0]}"


def test_rows_are_listed_in_the_batch_order():
    frame = batch(amount=[-1.0, 5.0, -2.0, -3.0])
    frame.index = [9, 3, 7, 1]
    result = validate_batch(frame, SCHEMA)
    assert found(result) == {("amount", "min", (9, 7, 1))}, f"rows in the batch's own order; got {found(result)}"
    result = validate_batch(batch(txn_id=["t1", "t2", "t1", "t2"]), SCHEMA)
    assert found(result) == {("txn_id", "unique", (100, 101, 102, 103))}, (
        f"duplicates of two values are listed in the batch's order, not grouped by value; got {found(result)}"
    )


def test_a_missing_column_quarantines_every_row():
    result = validate_batch(batch().drop(columns=["country"]), SCHEMA)
    assert found(result) == {("country", "missing", (100, 101, 102, 103))}, f"got {found(result)}"
    assert len(result.accepted) == 0 and len(result.quarantined) == 4, "no row can be trusted without the column"
    assert {k: list(v) for k, v in result.reasons.items()} == {row: ["country:missing"] for row in (100, 101, 102, 103)}, (
        f"every row is quarantined with the reason 'country:missing'; got {result.reasons}"
    )
    result = validate_batch(batch().drop(columns=["items"]), SCHEMA)
    assert found(result) == {("items", "missing", (100, 101, 102, 103))}, (
        "'items' is nullable: its values may be missing, the column itself may not (a nullable column is not an "
        f"optional one); got {found(result)}"
    )


def test_a_missing_or_mistyped_column_does_not_stop_the_other_checks():
    every = (100, 101, 102, 103)
    result = validate_batch(batch(amount=[-1.0, 5.0, 6.0, 7.0]).drop(columns=["txn_id"]), SCHEMA)
    assert found(result) == {("txn_id", "missing", every), ("amount", "min", (100,))}, (
        f"'txn_id' (the schema's first column) is missing, and 'amount' is still checked; got {found(result)}"
    )
    assert sorted(result.reasons[100]) == ["amount:min", "txn_id:missing"], (
        f"row 100 lists both rules it broke; got {result.reasons.get(100)}"
    )
    result = validate_batch(batch(txn_id=[1, 2, 3, 4], country=["FR", "GB", "US", "FR"]), SCHEMA)
    assert found(result) == {("txn_id", "dtype", every), ("country", "allowed", (101,))}, (
        f"'txn_id' has the wrong type, and 'country' is still checked; got {found(result)}"
    )


def test_an_object_column_of_strings_with_missing_values_is_a_str_column():
    country = pd.Series(["FR", None, "DE", np.nan], dtype=object, index=[100, 101, 102, 103])
    result = validate_batch(batch(country=country), SCHEMA)
    assert found(result) == {("country", "null", (101, 103))}, (
        "an object column whose non-missing values are all str is a 'str' column: its missing values "
        f"break 'null', not the column's type; got {found(result)}"
    )
    country = pd.Series(["FR", pd.NaT, "DE", pd.NA], dtype=object, index=[100, 101, 102, 103])
    result = validate_batch(batch(country=country), SCHEMA)
    assert found(result) == {("country", "null", (101, 103))}, (
        "NaT and pd.NA are missing values too: among strings in an object column they break 'null', and the "
        "column is still a 'str' column (pandas' infer_dtype calls text with a NaT 'mixed'); "
        f"got {found(result)}"
    )


def test_pandas_nullable_dtypes_are_their_types():
    frame = pd.DataFrame({"flag": pd.array([True, None, False], dtype="boolean"),
                          "n": pd.array([1, None, 3], dtype="Int64"),
                          "x": pd.array([1.5, None, 3.0], dtype="Float64"),
                          "s": pd.array(["a", None, "c"], dtype="string")})
    kinds = {"flag": "bool", "n": "int", "x": "float", "s": "str"}
    nullable = {name: Column(kind, nullable=True) for name, kind in kinds.items()}
    result = validate_batch(frame, nullable)
    assert result.ok, f"'boolean', 'Int64', 'Float64' and 'string' are bool, int, float and str; got {result.violations}"
    strict = validate_batch(frame, {name: Column(kind) for name, kind in kinds.items()})
    assert found(strict) == {(name, "null", (1,)) for name in kinds}, (
        f"pd.NA in a nullable dtype is a missing value: it breaks 'null' only; got {found(strict)}"
    )
    as_float = validate_batch(frame[["n"]], {"n": Column("float", nullable=True)})
    assert as_float.ok, (
        f"integers are valid floats, in pandas' nullable 'Int64' dtype too; got {as_float.violations}"
    )
    as_number = validate_batch(frame[["flag"]], {"flag": Column("float", nullable=True)})
    assert found(as_number) == {("flag", "dtype", (0, 1, 2))}, "a 'boolean' column is not a float column either"


def test_an_object_column_with_no_value_present_is_a_str_column():
    coupon = pd.Series([None, None, np.nan], dtype=object)  # an optional text field nobody filled in this batch
    result = validate_batch(pd.DataFrame({"coupon": coupon}), {"coupon": Column("str", nullable=True)})
    assert result.ok, (
        "an object column whose non-missing values are all str is a 'str' column, also when no value is "
        f"present: all missing in a nullable column breaks no rule; got {result.violations}"
    )
    strict = validate_batch(pd.DataFrame({"coupon": coupon}), {"coupon": Column("str")})
    assert found(strict) == {("coupon", "null", (0, 1, 2))}, (
        f"in a non-nullable 'str' column every missing value breaks 'null' (not 'dtype'); got {found(strict)}"
    )
    empty = validate_batch(pd.DataFrame({"coupon": pd.Series([], dtype=object)}), {"coupon": Column("str")})
    assert empty.ok, f"an empty object column is a 'str' column too; got {empty.violations}"
    floats = validate_batch(pd.DataFrame({"coupon": [np.nan, np.nan]}), {"coupon": Column("str", nullable=True)})
    assert found(floats) == {("coupon", "dtype", (0, 1))}, (
        "a float64 column is not a 'str' column, even when none of its values is present: only an object column "
        f"is judged by its values; got {found(floats)}"
    )


@pytest.mark.parametrize("column, values, dtype", [
    ("amount", ["10", "20", "30", "40"], "float"),
    ("amount", [True, False, True, True], "float"),
    ("items", [1.0, 2.0, 3.0, 4.0], "int"),
    ("items", [True, True, False, True], "int"),
    ("items", pd.Series([1, 2, 3, 4], dtype=object, index=[100, 101, 102, 103]), "int"),
    ("amount", pd.Series([10.0, 20.5, 0.0, 10_000.0], dtype=object, index=[100, 101, 102, 103]), "float"),
    ("amount", pd.Series([10.0, 20, None, 1.5], dtype=object, index=[100, 101, 102, 103]), "float"),
    ("txn_id", [1, 2, 3, 4], "str"),
    ("txn_id", ["t1", 2, "t3", "t4"], "str"),
    ("txn_id", [1.0, None, 3.0, 3.0], "str"),
    ("amount", ["10", None, "-5", "40"], "float"),
])
def test_a_column_of_the_wrong_type_is_reported_once_and_not_value_checked(column, values, dtype):
    result = validate_batch(batch(**{column: values}), SCHEMA)
    assert found(result) == {(column, "dtype", (100, 101, 102, 103))}, (
        f"{values!r} is not a {dtype!r} column: one 'dtype' violation naming every row, "
        "and no other rule checked on it, not even 'null' for its missing value (check the type before the "
        f"values); got {found(result)}"
    )
    assert {k: list(v) for k, v in result.reasons.items()} == {row: [f"{column}:dtype"] for row in (100, 101, 102, 103)}, (
        f"every row is quarantined with the reason '{column}:dtype'; got {result.reasons}"
    )


def test_an_object_column_of_booleans_is_not_a_bool_column():
    frame = pd.DataFrame({"flag": [True, False, None]})  # pandas stores True/False/None as object
    result = validate_batch(frame, {"flag": Column("bool", nullable=True)})
    assert found(result) == {("flag", "dtype", (0, 1, 2))}, (
        "'bool' is numpy's bool or pandas' 'boolean' dtype; an object column of True/False/None is neither "
        f"(cast it with .astype('boolean')); got {found(result)}"
    )


def test_integers_are_valid_floats_and_other_types_are_checked():
    schema = {"n": Column("float"), "flag": Column("bool"), "when": Column("datetime"),
              "name": Column("str"), "count": Column("int")}
    frame = pd.DataFrame({"n": [1, 2], "flag": [True, False],
                          "when": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                          "name": pd.array(["a", "b"], dtype="string"), "count": np.array([1, 2], dtype="int32")})
    assert validate_batch(frame, schema).ok, "int64 is a valid float, and each other column has its declared type"
    unsigned = pd.DataFrame({"count": np.array([1, 2], dtype="uint8"), "n": np.array([1, 2], dtype="uint64")})
    assert validate_batch(unsigned, {"count": Column("int"), "n": Column("float")}).ok, (
        "unsigned integers are an integer dtype too: valid 'int' and 'float' columns"
    )
    wrong = frame.assign(flag=[1, 0], when=["2024-01-01", "2024-01-02"])
    assert found(validate_batch(wrong, schema)) == {("flag", "dtype", (0, 1)), ("when", "dtype", (0, 1))}, (
        "0/1 integers are not a bool column and date strings are not a datetime column"
    )
    stamps = frame.assign(when=pd.Series(list(frame["when"]), dtype=object))
    assert found(validate_batch(stamps, schema)) == {("when", "dtype", (0, 1))}, (
        "an object column holding Timestamps is not a datetime column (a datetime64 dtype is)"
    )
    durations = frame.assign(when=pd.to_timedelta(["1D", "2D"]))
    assert found(validate_batch(durations, schema)) == {("when", "dtype", (0, 1))}, (
        "timedelta64 durations are not a datetime column (datetime64 is)"
    )


def test_datetime_bounds_are_checked():
    schema = {"when": Column("datetime", min=pd.Timestamp("2024-01-01"), max=pd.Timestamp("2024-12-31"))}
    frame = pd.DataFrame({"when": pd.to_datetime(["2023-12-31", "2024-06-01", "2025-01-01"])})
    assert found(validate_batch(frame, schema)) == {("when", "min", (0,)), ("when", "max", (2,))}, (
        "datetime columns have bounds too: the day before min and the day after max are caught"
    )


def test_a_missing_time_breaks_null_and_no_other_rule():
    schema = {"when": Column("datetime", min=pd.Timestamp("2024-01-01"), max=pd.Timestamp("2024-12-31"))}
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-06-01", None, "2025-01-01"])})
    result = validate_batch(frame, schema)
    assert found(result) == {("when", "null", (1,)), ("when", "max", (2,))}, (
        f"NaT is a missing value: it breaks 'null' in a non-nullable column (and no bound); got {found(result)}"
    )
    assert list(result.accepted.index) == [0], f"the row without a time is quarantined; got {list(result.accepted.index)}"
    nullable = {"when": Column("datetime", nullable=True, min=pd.Timestamp("2024-01-01"))}
    assert validate_batch(frame, nullable).ok, "in a nullable datetime column NaT breaks no rule"


def test_quarantine_keeps_every_row_with_its_reasons():
    frame = batch(amount=[-1.0, 5.0, 6.0, 7.0], country=["GB", "FR", "FR", "FR"], txn_id=["t1", "t2", "t2", "t4"])
    frame["note"] = ["a", "b", "c", "d"]  # a column the schema does not name is kept
    result = validate_batch(frame, SCHEMA)
    assert list(result.quarantined.index) == [100, 101, 102], f"rows 100-102 broke a rule; got {list(result.quarantined.index)}"
    assert list(result.accepted.index) == [103], f"row 103 is clean; got {list(result.accepted.index)}"
    pd.testing.assert_frame_equal(result.quarantined, frame.loc[[100, 101, 102]], obj="quarantined rows")
    pd.testing.assert_frame_equal(result.accepted, frame.loc[[103]], obj="accepted rows")
    assert {k: sorted(v) for k, v in result.reasons.items()} == {
        100: ["amount:min", "country:allowed"], 101: ["txn_id:unique"], 102: ["txn_id:unique"]
    }, f"each quarantined row lists every rule it broke as 'column:check'; got {result.reasons}"


def test_the_batch_is_not_modified():
    frame = batch(amount=[-1.0, 5.0, 6.0, 7.0])
    before = frame.copy(deep=True)
    validate_batch(frame, SCHEMA)
    pd.testing.assert_frame_equal(frame, before, obj="the batch after validation")
    objects = batch(txn_id=pd.Series(["t1", None, "t3", "t3"], dtype=object, index=[100, 101, 102, 103]),
                    items=pd.array([1, None, 0, 4], dtype="Int64"))
    before = objects.copy(deep=True)
    validate_batch(objects, SCHEMA)
    pd.testing.assert_frame_equal(objects, before, obj="a batch with object text and nullable columns after validation "
                                                       "(check copies; never convert the caller's columns)")


def test_integer_values_are_compared_with_the_bounds_exactly():
    frame = pd.DataFrame({"n": np.array([2**53, 2**53 + 1], dtype="int64"),
                          "u": np.array([2**64 - 1, 2**64 - 2], dtype="uint64")})
    schema = {"n": Column("int", max=2**53), "u": Column("int", min=2**64 - 2, max=2**64 - 1)}
    result = validate_batch(frame, schema)
    assert found(result) == {("n", "max", (1,))}, (
        "2**53 + 1 is above a max of 2**53, and the largest uint64 is within [2**64 - 2, 2**64 - 1]: compare integers "
        f"as integers (a float cast rounds them to the same number); got {found(result)}"
    )
    as_float = validate_batch(frame[["n"]], {"n": Column("float", max=2**53)})
    assert found(as_float) == {("n", "max", (1,))}, (
        "an int64 column is a valid 'float' column, and its values are still compared exactly: 2**53 + 1 is above "
        f"a max of 2**53 (never cast the column to float64 because the schema says 'float'); got {found(as_float)}"
    )
    near = pd.DataFrame({"n": np.array([10**18 + 1, 10**18, 10**18 - 1], dtype="int64")})
    for kind in ("int", "float"):
        for bound in (1e18, np.float64(1e18)):
            result = validate_batch(near, {"n": Column(kind, min=bound, max=bound)})
            assert found(result) == {("n", "max", (0,)), ("n", "min", (2,))}, (
                f"a float bound is compared exactly too (column declared {kind!r}, bound {bound!r} of type "
                f"{type(bound).__name__}: a numpy float is the number it holds): the int64 10**18 + 1 is above "
                "max=1e18 and 10**18 - 1 below min=1e18, though numpy's int64 > float comparison casts both to the "
                f"same float64 (so does comparing a Python int with an np.float64); got {found(result)}"
            )
    between = pd.DataFrame({"n": np.array([-1, 0, 1, 2], dtype="int64")})
    result = validate_batch(between, {"n": Column("int", min=0.5, max=1.5)})
    assert found(result) == {("n", "min", (0, 1)), ("n", "max", (3,))}, (
        "a bound between two integers is compared exactly: 0 is below min=0.5 and 2 above max=1.5 (for integers "
        f"x < 0.5 is x < 1 and x > 1.5 is x > 1: round the bound up for min and down for max, never truncate it "
        f"with int()); got {found(result)}"
    )
    negative = validate_batch(between, {"n": Column("int", min=-1.5, max=-0.5)})
    assert found(negative) == {("n", "max", (1, 2, 3))}, (
        "-1 is within [-1.5, -0.5] and 0 is above max=-0.5 (int(-0.5) is 0, which lets 0 through; "
        f"math.floor(-0.5) is -1); got {found(negative)}"
    )
    low = validate_batch(frame[["n"]], {"n": Column("int", min=2**53 + 1)})
    assert found(low) == {("n", "min", (0,))}, (
        f"2**53 is below a min of 2**53 + 1: the min is compared exactly too; got {found(low)}"
    )
    nullable = pd.DataFrame({"n": pd.array([2**53 + 1, None, 2**53 - 1], dtype="Int64")})
    result = validate_batch(nullable, {"n": Column("int", nullable=True, min=2**53, max=2**53)})
    assert found(result) == {("n", "max", (0,)), ("n", "min", (2,))}, (
        "in a nullable 'Int64' column 2**53 + 1 is above a max of 2**53 and 2**53 - 1 below a min of 2**53: "
        f"never turn its values into floats to get rid of pd.NA; got {found(result)}"
    )


def test_float_values_are_compared_with_integer_bounds_exactly():
    big = 2**53  # float64 holds 2**53 and 2**53 + 4 exactly, not the integers 2**53 + 1 and 2**53 + 3 between them
    frame = pd.DataFrame({"x": [float(big), float(big + 2), float(big + 4)]})
    result = validate_batch(frame, {"x": Column("float", min=big + 1, max=big + 3)})
    assert found(result) == {("x", "min", (0,)), ("x", "max", (2,))}, (
        f"the float {float(big)} is below an integer min of {big + 1} and {float(big + 4)} above a max of {big + 3}: "
        "compare them exactly (numpy's float64 < int casts the bound to float, rounding it onto the value itself); "
        f"got {found(result)}"
    )
    as_numpy = validate_batch(frame, {"x": Column("float", min=np.int64(big + 1), max=np.int64(big + 3))})
    assert found(as_numpy) == {("x", "min", (0,)), ("x", "max", (2,))}, (
        f"numpy integer bounds are integers too: np.int64({big + 1}) is that integer, and {float(big)} is below it "
        "(test for numbers.Integral or np.integer, not only int: numpy's float64 < int64 rounds the bound); "
        f"got {found(as_numpy)}"
    )
    nullable = pd.DataFrame({"x": pd.array([float(big), None, float(big + 2)], dtype="Float64")})
    result = validate_batch(nullable, {"x": Column("float", nullable=True, min=big + 1, max=big + 3)})
    assert found(result) == {("x", "min", (0,))}, (
        f"in a nullable 'Float64' column too, {float(big)} is below min={big + 1}; got {found(result)}"
    )


def test_float32_values_are_compared_with_float_bounds_exactly():
    frame = pd.DataFrame({"a": np.array([0.1, 0.05], dtype="float32"), "b": np.array([0.7, 0.75], dtype="float32"),
                          "c": pd.array([0.1, None], dtype="Float32")})
    schema = {"a": Column("float", max=0.1), "b": Column("float", min=0.7), "c": Column("float", nullable=True, max=0.1)}
    result = validate_batch(frame, schema)
    assert found(result) == {("a", "max", (0,)), ("b", "min", (0,)), ("c", "max", (0,))}, (
        f"a float32 value is the number it holds: np.float32(0.1) is {float(np.float32(0.1))!r}, above max=0.1, and "
        f"np.float32(0.7) is {float(np.float32(0.7))!r}, below min=0.7 (numpy compares a float32 column with a Python "
        "float in float32, rounding the bound onto the value: compare the values as float64); "
        f"got {found(result)}"
    )
    doubles = pd.DataFrame({"d": [0.1, 0.2], "e": [0.7, 0.6]})
    bounds = {"d": Column("float", min=np.float32(0.1)), "e": Column("float", max=np.float32(0.7))}
    result = validate_batch(doubles, bounds)
    assert found(result) == {("d", "min", (0,)), ("e", "max", (0,))}, (
        f"a float32 bound is the number it holds too: min=np.float32(0.1) is {float(np.float32(0.1))!r}, so the "
        f"float 0.1 is below it, and max=np.float32(0.7) is {float(np.float32(0.7))!r}, so 0.7 is above it (a "
        "Python float compared with a numpy float32 is rounded to float32 first: unwrap a numpy bound with .item() "
        f"or float() before comparing); got {found(result)}"
    )


def test_infinite_bounds_are_bounds():
    frame = pd.DataFrame({"n": np.array([-5, 0, 7], dtype="int64"), "m": pd.array([1, None, 3], dtype="Int64"),
                          "x": [-1.5, 0.0, 2.5]})
    open_ended = {"n": Column("int", min=-math.inf, max=math.inf), "m": Column("int", nullable=True, max=math.inf),
                  "x": Column("float", min=-math.inf, max=math.inf)}
    result = validate_batch(frame, open_ended)
    assert result.ok, (
        "min=-inf and max=inf bound nothing, in an 'int' column too (math.ceil/math.floor of an infinity raise "
        f"OverflowError: keep an infinite bound as it is); got {result.violations}"
    )
    closed = validate_batch(frame[["n"]], {"n": Column("int", min=math.inf, max=-math.inf)})
    assert found(closed) == {("n", "min", (0, 1, 2)), ("n", "max", (0, 1, 2))}, (
        f"every integer is below min=inf and above max=-inf; got {found(closed)}"
    )


def test_accepted_and_quarantined_are_new_frames():
    clean = batch()
    before = clean.copy(deep=True)
    result = validate_batch(clean, SCHEMA)
    assert result.accepted is not clean and result.quarantined is not clean, (
        "accepted and quarantined are new frames, also when every row is accepted (never hand back the batch itself)"
    )
    result.accepted["amount"] = -1.0
    result.accepted.loc[100, "country"] = "XX"
    pd.testing.assert_frame_equal(clean, before, obj="the batch after editing the accepted frame")
    broken = batch(amount=[-1.0, -2.0, -3.0, -4.0])
    before = broken.copy(deep=True)
    result = validate_batch(broken, SCHEMA)
    assert result.quarantined is not broken and result.accepted is not broken, (
        "quarantined is a new frame, also when every row is quarantined"
    )
    result.quarantined["amount"] = 0.0
    pd.testing.assert_frame_equal(broken, before, obj="the batch after editing the quarantined frame")


def test_allowed_values_match_by_equal_value_not_by_text():
    floats = pd.DataFrame({"x": [1.0, 2.0, 2.5]})
    result = validate_batch(floats, {"x": Column("float", allowed={1, 2})})
    assert found(result) == {("x", "allowed", (2,))}, (
        "the floats 1.0 and 2.0 equal the allowed integers 1 and 2 (compared as text, '1.0' is not '1'); only 2.5 "
        f"is outside; got {found(result)}"
    )
    ints = pd.DataFrame({"n": np.array([1, 3], dtype="int64")})
    result = validate_batch(ints, {"n": Column("int", allowed=[1.0, 2.0])})
    assert found(result) == {("n", "allowed", (1,))}, (
        f"the int 1 equals the allowed float 1.0; 3 is outside; got {found(result)}"
    )


def test_an_empty_batch_is_fine_but_a_missing_column_is_still_reported():
    empty = batch().iloc[:0]
    assert validate_batch(empty, SCHEMA).ok, "an empty batch with the right columns breaks no rule"
    result = validate_batch(empty.drop(columns=["amount"]), SCHEMA)
    assert found(result) == {("amount", "missing", ())}, "a missing column is reported even with no rows"
    result = validate_batch(empty.astype({"items": "float64"}), SCHEMA)
    assert found(result) == {("items", "dtype", ())}, (
        f"a column of the wrong type is reported even with no rows (a float column is not 'int'); got {found(result)}"
    )
    assert not result.ok, "a batch with a wrong-type column is not ok, even empty"


def test_a_repeated_index_label_is_rejected():
    frame = batch()
    frame.index = [1, 2, 2, 3]
    with pytest.raises(ValueError):
        validate_batch(frame, SCHEMA)


@pytest.mark.parametrize("dtype", ["double", "int64", "Float", "STR"])
@pytest.mark.parametrize("column", ["amount", "not_in_the_batch"])
def test_an_unknown_dtype_in_the_schema_is_rejected(column, dtype):
    with pytest.raises(ValueError):  # only the five names themselves: no numpy/pandas alias, no other spelling
        validate_batch(batch(), {**SCHEMA, column: Column(dtype)})


def test_violation_is_a_value_with_column_check_and_rows():
    result = validate_batch(batch(amount=[-1.0, 5.0, 6.0, 7.0]), SCHEMA)
    assert result.violations == [Violation("amount", "min", (100,))], f"got {result.violations}"


# Every edge at once is always tried first: both bounds, -0.0, NaN, both infinities and the
# nearest floats outside the bounds; then eleven rows (r9 and r10 both bad); then random batches,
# each a few short runs put end to end (validating a batch costs far more than drawing one).
@settings(max_examples=12)
@given(amounts=st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                           st.sampled_from([0.0, 100.0, -0.0])), min_size=1, max_size=12),
                        min_size=1, max_size=4).map(lambda runs: [a for run in runs for a in run]))
@example(amounts=[50.0, 0.0, -0.0, 100.0, math.nan, math.inf, -math.inf, -1e-45, 100.00000762939453, 7.5])
@example(amounts=[1.0] * 9 + [-1.0, 101.0])  # r9 before r10: the batch's order, not the labels' text order
def test_rows_in_equal_rows_accepted_plus_rows_quarantined(amounts):
    frame = pd.DataFrame({"amount": amounts}, index=[f"r{i}" for i in range(len(amounts))])
    result = validate_batch(frame, {"amount": Column("float", min=0.0, max=100.0)})
    bad = [f"r{i}" for i, a in enumerate(amounts) if math.isnan(a) or not 0.0 <= a <= 100.0]
    assert list(result.quarantined.index) == bad, f"{amounts}: rows outside [0, 100] or missing are quarantined"
    assert sorted(list(result.accepted.index) + list(result.quarantined.index)) == sorted(frame.index), (
        "every row is either accepted or quarantined, never dropped nor both"
    )
    assert set(result.reasons) == set(bad), "every quarantined row, and only those, has reasons"
