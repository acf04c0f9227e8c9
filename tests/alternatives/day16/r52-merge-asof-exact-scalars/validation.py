"""Task 2: validate a batch against a declared schema, and quarantine the rows that fail.

Contract (the tests check exactly this):
- `Column(dtype, nullable=False, min=None, max=None, allowed=None, unique=False)` declares
  one column; `dtype` is one of "int", "float", "str", "bool", "datetime" (anything else:
  `validate_batch` raises ValueError). A schema is a mapping of column name to Column;
  columns of the batch that the schema does not name are allowed and kept. Types:
  "int" an integer dtype (signed or unsigned, not bool; a float column of whole numbers is not "int");
  "float" any numeric dtype but bool (integers are valid floats; an object column of numbers
  is neither "float" nor "int"); "str" a string dtype, or
  an object column whose non-missing values are all `str`; "bool" a bool dtype (an object
  column of True/False/None is not);
  "datetime" a datetime64 dtype, naive or tz-aware. pandas' nullable dtypes ("boolean",
  "Int64", "Float64", "string") are their types too.
- Missing values (None, NaN, NaT, pd.NA) break "null" unless `nullable`, and no other
  rule: min/max (inclusive bounds; 0 is a bound), allowed (None: any value; an empty
  collection: none) and unique look only at present values;
  "unique" reports every row whose value occurs more than once, the first one too.
  Values compare with the bounds exactly (an int64 2**53 + 1 is above max=2**53: no float cast,
  also in a column declared "float"; np.float32(0.1) is above max=0.1: no float32 bound either).
- `validate_batch(batch, schema) -> ValidationResult` with
  - `violations`: one `Violation(column, check, rows)` per broken rule, `rows` the index
    labels of the offending rows, in the batch's order. `check` is one of
    "missing" (no such column: every row), "dtype" (the column's type is wrong: every
    row, and no other rule of it is checked, not even "null"), "null", "min", "max", "allowed", "unique".
    A value rule with no offending row is not reported; "missing" and "dtype" always are.
    Every schema column is checked: a missing or mistyped one does not stop the others.
  - `accepted`: the rows with no violation; `quarantined`: every other row. Both keep
    all the batch's columns, its order and its index: rows in = accepted + quarantined.
  - `reasons`: for each quarantined row's index label, the list of "column:check" it broke.
  - `ok`: True when there is no violation.
- The batch is not modified. A batch whose index repeats a label raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

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


def _py(v):
    """A numpy scalar as the Python number it holds (exact: float32 -> float is exact)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _type_ok(col: pd.Series, dtype: str) -> bool:
    t = col.dtype
    if dtype == "bool":
        return not (isinstance(t, np.dtype) and t == object) and ptypes.is_bool_dtype(t)
    if dtype == "int":
        return ptypes.is_integer_dtype(t) and not ptypes.is_bool_dtype(t)
    if dtype == "float":
        return ptypes.is_numeric_dtype(t) and not ptypes.is_bool_dtype(t) and t != object
    if dtype == "datetime":
        return ptypes.is_datetime64_any_dtype(t)
    # str
    if t == object:
        return all(isinstance(v, str) for v in col[col.notna()].tolist())
    return ptypes.is_string_dtype(t) and not isinstance(t, pd.CategoricalDtype)


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    for name, spec in schema.items():
        if not isinstance(spec.dtype, str) or spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for column {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch index repeats a label")

    violations: list[Violation] = []
    bad = pd.Series(False, index=batch.index)
    reasons: dict = {}
    everyone = pd.Series(True, index=batch.index)

    def report(name, check, mask, always=False):
        nonlocal bad
        rows = tuple(batch.index[mask.to_numpy(dtype=bool)])
        if rows or always:
            violations.append(Violation(name, check, rows))
        bad = bad | mask
        for r in rows:
            reasons.setdefault(r, []).append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", everyone, always=True)
            continue
        col = batch[name]
        if not _type_ok(col, spec.dtype):
            report(name, "dtype", everyone, always=True)
            continue
        present = col.notna().to_numpy(dtype=bool)
        values = [_py(v) for v in col.tolist()]
        if not spec.nullable:
            report(name, "null", pd.Series(~present, index=batch.index))
        if spec.min is not None:
            lo = _py(spec.min)
            m = [bool(p) and v < lo for p, v in zip(present, values)]
            report(name, "min", pd.Series(m, index=batch.index, dtype=bool))
        if spec.max is not None:
            hi = _py(spec.max)
            m = [bool(p) and v > hi for p, v in zip(present, values)]
            report(name, "max", pd.Series(m, index=batch.index, dtype=bool))
        if spec.allowed is not None:
            allowed = [_py(a) for a in spec.allowed]
            m = [bool(p) and not any(v == a for a in allowed) for p, v in zip(present, values)]
            report(name, "allowed", pd.Series(m, index=batch.index, dtype=bool))
        if spec.unique:
            dup = col.duplicated(keep=False).to_numpy(dtype=bool) & present
            report(name, "unique", pd.Series(dup, index=batch.index))

    mask = bad.to_numpy(dtype=bool)
    accepted = batch.loc[~mask].copy()
    quarantined = batch.loc[mask].copy()
    return ValidationResult(violations, accepted, quarantined, reasons)
