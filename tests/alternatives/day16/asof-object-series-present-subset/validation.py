"""Task 2: validate a batch against a declared schema, and quarantine the rows that fail.

Contract (the tests check exactly this):
- `Column(dtype, nullable=False, min=None, max=None, allowed=None, unique=False)` declares
  one column; `dtype` is one of "int", "float", "str", "bool", "datetime" (anything else:
  `validate_batch` raises ValueError). A schema is a mapping of column name to Column;
  columns of the batch that the schema does not name are allowed and kept. Types:
  "int" an integer dtype (signed or unsigned, not bool; a float column of whole numbers is not "int");
  "float" any numeric dtype but bool (integers are valid floats); "str" a string dtype, or
  an object column whose non-missing values are all `str`; "bool" a bool dtype (an object
  column of True/False/None is not);
  "datetime" a datetime64 dtype, naive or tz-aware. pandas' nullable dtypes ("boolean",
  "Int64", "Float64", "string") are their types too.
- Missing values (None, NaN, NaT, pd.NA) break "null" unless `nullable`, and no other
  rule: min/max (inclusive bounds; 0 is a bound), allowed (None: any value; an empty
  collection: none) and unique look only at present values;
  "unique" reports every row whose value occurs more than once, the first one too.
- `validate_batch(batch, schema) -> ValidationResult` with
  - `violations`: one `Violation(column, check, rows)` per broken rule, `rows` the index
    labels of the offending rows, in the batch's order. `check` is one of
    "missing" (no such column: every row), "dtype" (the column's type is wrong: every
    row, and its value rules are not checked), "null", "min", "max", "allowed", "unique".
    A value rule with no offending row is not reported; "missing" and "dtype" always are.
    Every schema column is checked: a missing or mistyped one does not stop the others.
  - `accepted`: the rows with no violation; `quarantined`: every other row. Both keep
    all the batch's columns, its order and its index: rows in = accepted + quarantined.
  - `reasons`: for each quarantined row's index label, the list of "column:check" it broke.
  - `ok`: True when there is no violation.
- The batch is not modified. A batch whose index repeats a label raises ValueError.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import pandas as pd
from pandas.api import types as pdt

DTYPES = ("int", "float", "str", "bool", "datetime")


@dataclass(frozen=True)
class Column:
    dtype: str
    nullable: bool = False
    min: Any = None  # inclusive
    max: Any = None  # inclusive
    allowed: Collection | None = None
    unique: bool = False


@dataclass(frozen=True)
class Violation:
    column: str
    check: str
    rows: tuple


@dataclass
class ValidationResult:
    violations: list[Violation]
    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    reasons: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def _type_ok(col: pd.Series, kind: str) -> bool:
    t = pdt
    if kind == "bool":
        return t.is_bool_dtype(col.dtype) and col.dtype != object
    if t.is_bool_dtype(col.dtype):
        return False
    if kind == "int":
        return t.is_integer_dtype(col.dtype)
    if kind == "float":
        return t.is_numeric_dtype(col.dtype)
    if kind == "datetime":
        return t.is_datetime64_any_dtype(col.dtype)
    # "str"
    if isinstance(col.dtype, pd.StringDtype):
        return True
    if col.dtype == object:
        return all(isinstance(v, str) for v in col[col.notna()])
    return False


def _exact_bound(col, bound, rounding):
    """An integer column's float bound as the integer giving the same answer (numpy compares in float64)."""
    if (pd.api.types.is_integer_dtype(col.dtype) and isinstance(bound, numbers.Real)
            and not isinstance(bound, numbers.Integral) and math.isfinite(bound)):
        return rounding(bound)
    if (pd.api.types.is_float_dtype(col.dtype) and isinstance(bound, numbers.Integral)
            and not isinstance(bound, bool)):
        return _nearest_float(int(bound), rounding)
    return bound


def _nearest_float(bound: int, rounding) -> float:
    """A float column's integer bound as the float giving the same answer: numpy would round it to the
    nearest float (2**53 + 1 becomes 2**53); min takes the float at or above it, max the one at or below."""
    near = float(bound)
    if rounding is math.ceil and near < bound:
        return math.nextafter(near, math.inf)
    if rounding is math.floor and near > bound:
        return math.nextafter(near, -math.inf)
    return near


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"{name}: unknown dtype {spec.dtype!r}")
    if not batch.index.is_unique:
        raise ValueError("the batch's index repeats a label")
    violations: list[Violation] = []
    reasons: dict = {}
    bad = pd.Series(False, index=batch.index)

    def report(name: str, check: str, mask: pd.Series, always: bool = False) -> None:
        nonlocal bad
        mask = mask.astype(bool)
        rows = tuple(batch.index[mask.to_numpy()])
        if rows or always:
            violations.append(Violation(name, check, rows))
            bad = bad | mask
            for row in rows:
                reasons.setdefault(row, []).append(f"{name}:{check}")

    every = pd.Series(True, index=batch.index)
    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", every, always=True)
            continue
        col = batch[name]
        if not _type_ok(col, spec.dtype):
            report(name, "dtype", every, always=True)
            continue
        present = col.notna().to_numpy()
        if not spec.nullable:
            report(name, "null", pd.Series(~present, index=batch.index))
        values = col[present]

        def on_present(sub: pd.Series) -> pd.Series:
            mask = pd.Series(False, index=batch.index)
            mask[present] = sub.fillna(False).astype(bool).to_numpy()
            return mask

        if spec.min is not None:
            report(name, "min", on_present(_wide(values) < _exact_bound(values, spec.min, math.ceil)))
        if spec.max is not None:
            report(name, "max", on_present(_wide(values) > _exact_bound(values, spec.max, math.floor)))
        if spec.allowed is not None:
            report(name, "allowed", on_present(~values.isin(list(spec.allowed))))
        if spec.unique:
            report(name, "unique", on_present(values.duplicated(keep=False)))
    keep = ~bad.to_numpy()
    return ValidationResult(violations, batch[keep].copy(), batch[~keep].copy(), reasons)


def _wide(col):
    """float32/float16 values as float64 (exact), so a Python float bound is not rounded to the column's precision."""
    if pd.api.types.is_float_dtype(col.dtype) and getattr(col.dtype, "itemsize", 8) < 8:
        return col.astype("Float64" if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    return col
