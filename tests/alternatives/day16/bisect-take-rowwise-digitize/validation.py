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

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import math

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


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)) \
        or (isinstance(value, np.floating) and np.isnan(value)) or (isinstance(value, np.datetime64) and np.isnat(value))


def _has_type(col: pd.Series, kind: str) -> bool:
    dtype = col.dtype
    if kind == "bool":
        return dtype == np.dtype(bool) or dtype == pd.BooleanDtype()
    is_bool = dtype == np.dtype(bool) or dtype == pd.BooleanDtype()
    if kind == "int":
        return not is_bool and getattr(dtype, "kind", None) in ("i", "u")
    if kind == "float":
        return not is_bool and getattr(dtype, "kind", None) in ("i", "u", "f")
    if kind == "datetime":
        return isinstance(dtype, pd.DatetimeTZDtype) or getattr(dtype, "kind", None) == "M"
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) or _is_missing(v) for v in col.tolist())
    return False


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = sorted({spec.dtype for spec in schema.values()} - set(DTYPES))
    if unknown:
        raise ValueError(f"unknown dtype(s) in the schema: {unknown}")
    if batch.index.has_duplicates:
        raise ValueError("every row must have its own index label")
    labels = list(batch.index)
    broken: dict[tuple[str, str], list] = {}
    per_row: dict = {}

    def mark(name: str, check: str, rows: list) -> None:
        broken.setdefault((name, check), []).extend(rows)

    for name, spec in schema.items():
        if name not in batch.columns:
            broken[(name, "missing")] = list(labels)
            continue
        col = batch[name]
        if not _has_type(col, spec.dtype):
            broken[(name, "dtype")] = list(labels)
            continue
        values = col.tolist()
        seen: dict = {}
        for label, value in zip(labels, values):
            if _is_missing(value):
                if not spec.nullable:
                    mark(name, "null", [label])
                continue
            if spec.min is not None and value < spec.min:
                mark(name, "min", [label])
            if spec.max is not None and value > spec.max:
                mark(name, "max", [label])
            if spec.allowed is not None and value not in spec.allowed:
                mark(name, "allowed", [label])
            if spec.unique:
                seen.setdefault(value, []).append(label)
        if spec.unique:
            dupes = {label for group in seen.values() if len(group) > 1 for label in group}
            rows = [label for label in labels if label in dupes]
            if rows:
                mark(name, "unique", rows)

    violations = [Violation(name, check, tuple(rows)) for (name, check), rows in broken.items()]
    for violation in violations:
        for row in violation.rows:
            per_row.setdefault(row, []).append(f"{violation.column}:{violation.check}")
    bad = [label in per_row for label in labels]
    flags = np.array(bad, dtype=bool)
    return ValidationResult(violations, batch.iloc[np.flatnonzero(~flags)], batch.iloc[np.flatnonzero(flags)],
                            {label: per_row[label] for label in labels if label in per_row})
