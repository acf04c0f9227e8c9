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


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    """Every violation with its rows; good rows accepted, bad ones quarantined with reasons."""
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = [name for name, spec in schema.items() if spec.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for {unknown}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")

    violations = []
    for name, spec in schema.items():
        if name not in batch.columns:
            violations.append(Violation(name, "missing", tuple(labels)))
            continue
        if not _is_kind(batch[name], spec.dtype):
            violations.append(Violation(name, "dtype", tuple(labels)))
            continue
        values = batch[name].tolist()
        broken: dict[str, list] = {c: [] for c in ("null", "min", "max", "allowed", "unique")}
        seen: dict = {}
        for label, value in zip(labels, values):
            if _absent(value):
                if not spec.nullable:
                    broken["null"].append(label)
                continue
            if spec.min is not None and value < spec.min:
                broken["min"].append(label)
            if spec.max is not None and value > spec.max:
                broken["max"].append(label)
            if spec.allowed is not None and value not in spec.allowed:
                broken["allowed"].append(label)
            seen.setdefault(value, []).append(label)
        if spec.unique:
            repeated = {label for group in seen.values() if len(group) > 1 for label in group}
            broken["unique"] = [label for label in labels if label in repeated]
        violations.extend(Violation(name, c, tuple(rows)) for c, rows in broken.items() if rows)

    reasons: dict = {}
    for v in violations:
        for label in v.rows:
            reasons.setdefault(label, []).append(f"{v.column}:{v.check}")
    keep = [label not in reasons for label in labels]
    drop = [not k for k in keep]
    return ValidationResult(violations, batch.loc[keep], batch.loc[drop], reasons)


def _absent(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_kind(column: pd.Series, kind: str) -> bool:
    dtype = column.dtype
    letter = getattr(dtype, "kind", "O")
    if kind == "bool":
        return letter == "b"
    if kind == "int":
        return letter in "iu"
    if kind == "float":
        return letter in "iuf"
    if kind == "datetime":
        return letter == "M"
    if isinstance(dtype, pd.StringDtype):
        return True
    return dtype == object and all(isinstance(v, str) for v in column if not _absent(v))
