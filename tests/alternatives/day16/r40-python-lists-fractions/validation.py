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
import pandas.api.types as ptypes

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


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    for name, spec in schema.items():
        if not isinstance(spec.dtype, str) or spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for column {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch index repeats a label")
    labels = list(batch.index)
    n = len(labels)
    violations: list[Violation] = []
    bad_rows: dict[int, list[str]] = {}

    def report(name, check, positions):
        if not positions and check not in ("missing", "dtype"):
            return
        violations.append(Violation(name, check, tuple(labels[p] for p in positions)))
        for p in positions:
            bad_rows.setdefault(p, []).append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", list(range(n)))
            continue
        col = batch[name]
        if not _dtype_ok(col, spec.dtype):
            report(name, "dtype", list(range(n)))
            continue
        values = [_plain(v) for v in col.tolist()]
        present = [not _missing(v) for v in values]
        if not spec.nullable:
            report(name, "null", [i for i in range(n) if not present[i]])
        lo, hi = _plain(spec.min), _plain(spec.max)
        if lo is not None:
            report(name, "min", [i for i in range(n) if present[i] and values[i] < lo])
        if hi is not None:
            report(name, "max", [i for i in range(n) if present[i] and values[i] > hi])
        if spec.allowed is not None:
            allowed = [_plain(a) for a in spec.allowed]
            report(name, "allowed", [i for i in range(n) if present[i]
                                     and not any(_same(values[i], a) for a in allowed)])
        if spec.unique:
            counts: dict = {}
            for i in range(n):
                if present[i]:
                    counts[_key(values[i])] = counts.get(_key(values[i]), 0) + 1
            report(name, "unique", [i for i in range(n) if present[i] and counts[_key(values[i])] > 1])

    bad = [i in bad_rows for i in range(n)]
    good_pos = [i for i in range(n) if not bad[i]]
    bad_pos = [i for i in range(n) if bad[i]]
    accepted = batch.iloc[good_pos].copy(deep=True)
    quarantined = batch.iloc[bad_pos].copy(deep=True)
    reasons = {labels[p]: bad_rows[p] for p in bad_pos}
    return ValidationResult(violations, accepted, quarantined, reasons)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _missing(v):
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _same(a, b):
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _key(v):
    return ("s", v) if isinstance(v, str) else ("v", v)


def _dtype_ok(col: pd.Series, want: str) -> bool:
    dt = col.dtype
    isbool = dt == np.dtype(bool) or isinstance(dt, pd.BooleanDtype)
    if want == "bool":
        return isbool
    if want == "int":
        return not isbool and ptypes.is_integer_dtype(dt)
    if want == "float":
        return not isbool and ptypes.is_numeric_dtype(dt) and not dt == np.dtype(object)
    if want == "datetime":
        return ptypes.is_datetime64_any_dtype(dt)
    # str
    if isinstance(dt, pd.StringDtype):
        return True
    if dt == np.dtype(object):
        return all(isinstance(v, str) for v in col.tolist() if not _missing(v))
    return ptypes.is_string_dtype(dt) and not isinstance(dt, pd.CategoricalDtype)
