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


_MISSING_TYPES = (type(None), type(pd.NA), type(pd.NaT))


def _is_missing(v) -> bool:
    if isinstance(v, _MISSING_TYPES):
        return True
    if isinstance(v, (float, np.floating)):
        return v != v
    if isinstance(v, np.datetime64):
        return np.isnat(v)
    return False


def _exact(v):
    """Python objects compare ints and floats exactly; numpy scalars become them."""
    return v.item() if isinstance(v, np.generic) else v


def _dtype_matches(series: pd.Series, kind: str) -> bool:
    dt = series.dtype
    is_bool = dt == np.dtype(bool) or isinstance(dt, pd.BooleanDtype)
    if kind == "bool":
        return is_bool
    if kind == "int":
        return not is_bool and pd.api.types.is_integer_dtype(dt)
    if kind == "float":
        return not is_bool and dt != np.dtype(object) and pd.api.types.is_numeric_dtype(dt)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dt)
    if kind == "str":
        if dt == np.dtype(object):
            return all(isinstance(v, str) for v in series if not _is_missing(v))
        return isinstance(dt, pd.StringDtype)
    return False


def _row_failures(value, spec: Column) -> list[str]:
    if _is_missing(value):
        return [] if spec.nullable else ["null"]
    value = _exact(value)
    out = []
    if spec.min is not None and value < _exact(spec.min):
        out.append("min")
    if spec.max is not None and value > _exact(spec.max):
        out.append("max")
    if spec.allowed is not None and not any(value == _exact(a) for a in spec.allowed):
        out.append("allowed")
    return out


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    unknown = [n for n, c in schema.items() if c.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for columns {unknown}")
    if not batch.index.is_unique:
        raise ValueError("repeated index label: rows could not be named")

    labels = list(batch.index)
    violations: list[Violation] = []
    reasons: dict = {}

    def add(name, check, rows):
        violations.append(Violation(name, check, tuple(rows)))
        for r in rows:
            reasons.setdefault(r, []).append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            add(name, "missing", labels)
            continue
        series = batch[name]
        if not _dtype_matches(series, spec.dtype):
            add(name, "dtype", labels)
            continue
        values = list(series)
        found: dict[str, list] = {"null": [], "min": [], "max": [], "allowed": [], "unique": []}
        for label, v in zip(labels, values):
            for check in _row_failures(v, spec):
                found[check].append(label)
        if spec.unique:
            counts: dict = {}
            for v in values:
                if not _is_missing(v):
                    counts[_exact(v)] = counts.get(_exact(v), 0) + 1
            found["unique"] = [label for label, v in zip(labels, values)
                               if not _is_missing(v) and counts[_exact(v)] > 1]
        for check in ("null", "min", "max", "allowed", "unique"):
            if found[check]:
                add(name, check, found[check])

    bad = batch.index.isin(list(reasons))
    return ValidationResult(violations, batch[~bad].copy(), batch[bad].copy(), reasons)
