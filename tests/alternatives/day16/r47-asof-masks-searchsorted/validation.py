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


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _dtype_ok(col: pd.Series, kind: str) -> bool:
    dt = col.dtype
    is_bool = pdt.is_bool_dtype(dt) and not dt == object
    if kind == "int":
        return pdt.is_integer_dtype(dt) and not is_bool
    if kind == "float":
        return pdt.is_numeric_dtype(dt) and not is_bool and not dt == object
    if kind == "bool":
        return dt == np.bool_ or isinstance(dt, pd.BooleanDtype)
    if kind == "datetime":
        return pdt.is_datetime64_any_dtype(dt)
    if kind == "str":
        if isinstance(dt, pd.StringDtype):
            return True
        if dt == object:
            present = col[col.notna()]
            return all(isinstance(v, str) for v in present.tolist())
        return False
    return False


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    for name, spec in schema.items():
        if not isinstance(spec.dtype, str) or spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for column {name!r}")
    if batch.index.has_duplicates:
        raise ValueError("the batch index repeats a label")

    n = len(batch)
    index = batch.index
    bad = np.zeros(n, dtype=bool)
    violations: list[Violation] = []
    reasons: dict = {}

    def report(name, check, mask):
        mask = np.asarray(mask, dtype=bool)
        if not mask.any() and check not in ("missing", "dtype"):
            return
        rows = tuple(index[mask])
        violations.append(Violation(name, check, rows))
        for r in rows:
            reasons.setdefault(r, []).append(f"{name}:{check}")
        bad[:] = bad | mask

    for name, spec in schema.items():
        if name not in batch.columns:
            report(name, "missing", np.ones(n, dtype=bool))
            continue
        col = batch[name]
        if not _dtype_ok(col, spec.dtype):
            report(name, "dtype", np.ones(n, dtype=bool))
            continue
        present = col.notna().to_numpy()
        if not spec.nullable:
            report(name, "null", ~present)
        values = [_py(v) for v in col.tolist()]
        if spec.min is not None:
            lo = _py(spec.min)
            report(name, "min", present & np.array([p and v < lo for p, v in zip(present, values)], dtype=bool))
        if spec.max is not None:
            hi = _py(spec.max)
            report(name, "max", present & np.array([p and v > hi for p, v in zip(present, values)], dtype=bool))
        if spec.allowed is not None:
            allowed = [_py(a) for a in spec.allowed]
            report(name, "allowed", present & np.array(
                [p and not any(v == a for a in allowed) for p, v in zip(present, values)], dtype=bool))
        if spec.unique:
            dup = col[present].duplicated(keep=False)
            mask = np.zeros(n, dtype=bool)
            mask[np.flatnonzero(present)] = dup.to_numpy()
            report(name, "unique", mask)

    return ValidationResult(
        violations=violations,
        accepted=batch.iloc[~bad].copy(),
        quarantined=batch.iloc[bad].copy(),
        reasons=reasons,
    )
