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


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def _is_missing(v) -> bool:
    r = pd.isna(v)
    return bool(r) if np.ndim(r) == 0 else False


class _Checker:
    """Checks one schema column of a batch, row by row."""

    def __init__(self, name, spec: Column, batch: pd.DataFrame):
        self.name, self.spec, self.batch = name, spec, batch
        self.labels = list(batch.index)

    def type_ok(self, col: pd.Series) -> bool:
        dt = col.dtype
        kind = self.spec.dtype
        if isinstance(dt, np.dtype):
            if kind == "int":
                return dt.kind in "iu"
            if kind == "float":
                return dt.kind in "iuf"
            if kind == "bool":
                return dt.kind == "b"
            if kind == "datetime":
                return dt.kind == "M"
            if kind == "str":
                return dt.kind == "O" and all(isinstance(v, str) for v in col.tolist() if not _is_missing(v))
            return False
        if isinstance(dt, pd.DatetimeTZDtype):
            return kind == "datetime"
        if isinstance(dt, pd.StringDtype):
            return kind == "str"
        if isinstance(dt, pd.BooleanDtype):
            return kind == "bool"
        if isinstance(dt, (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
                           pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)):
            return kind in ("int", "float")
        if isinstance(dt, (pd.Float32Dtype, pd.Float64Dtype)):
            return kind == "float"
        return False

    def run(self):
        """Yield (check, [row labels])."""
        n = len(self.labels)
        if self.name not in self.batch.columns:
            yield "missing", list(self.labels)
            return
        col = self.batch[self.name]
        if not self.type_ok(col):
            yield "dtype", list(self.labels)
            return
        values = [_scalar(v) for v in col.tolist()]
        missing = [_is_missing(v) for v in values]
        spec = self.spec
        rules = []
        if not spec.nullable:
            rules.append(("null", lambda v, m: m))
        if spec.min is not None:
            lo = _scalar(spec.min)
            rules.append(("min", lambda v, m: not m and v < lo))
        if spec.max is not None:
            hi = _scalar(spec.max)
            rules.append(("max", lambda v, m: not m and v > hi))
        if spec.allowed is not None:
            allowed = [_scalar(a) for a in spec.allowed]
            rules.append(("allowed", lambda v, m: not m and not any(v == a for a in allowed)))
        for check, broken in rules:
            rows = [self.labels[i] for i in range(n) if broken(values[i], missing[i])]
            if rows:
                yield check, rows
        if spec.unique:
            counts: dict = {}
            for v, m in zip(values, missing):
                if not m:
                    counts[v] = counts.get(v, 0) + 1
            rows = [self.labels[i] for i in range(n) if not missing[i] and counts[values[i]] > 1]
            if rows:
                yield "unique", rows


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    for name, spec in schema.items():
        if spec.dtype not in DTYPES or not isinstance(spec.dtype, str):
            raise ValueError(f"{name}: unknown dtype {spec.dtype!r}")
    if len(set(batch.index)) != len(batch.index):
        raise ValueError("repeated index label")
    violations, reasons = [], {}
    for name, spec in schema.items():
        for check, rows in _Checker(name, spec, batch).run():
            violations.append(Violation(name, check, tuple(rows)))
            for r in rows:
                reasons.setdefault(r, []).append(f"{name}:{check}")
    is_bad = [lab in reasons for lab in batch.index]
    keep = [not b for b in is_bad]
    return ValidationResult(violations, batch.loc[keep].copy(), batch.loc[is_bad].copy(), reasons)
