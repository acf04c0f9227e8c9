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

from collections import Counter

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


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _type_ok(column: pd.Series, kind: str) -> bool:
    dtype = column.dtype
    if kind == "datetime":
        return isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M")
    if kind == "bool":
        return isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool)
    if kind == "int":
        return (isinstance(dtype, np.dtype) and dtype.kind in "iu") or (
            isinstance(dtype, pd.api.extensions.ExtensionDtype) and getattr(dtype, "kind", "") in "iu"
            and not isinstance(dtype, pd.BooleanDtype))
    if kind == "float":
        return _type_ok(column, "int") or (isinstance(dtype, np.dtype) and dtype.kind == "f") or (
            isinstance(dtype, pd.api.extensions.ExtensionDtype) and getattr(dtype, "kind", "") == "f")
    # str
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == np.dtype(object):
        return all(isinstance(v, str) for v in column.tolist() if not _missing(v))
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
    unknown = [name for name, spec in schema.items() if spec.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for {unknown}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("a quarantined row must be nameable: the index repeats a label")

    violations = []
    broken: dict[int, list[str]] = {}  # position -> reasons

    def add(name, check, positions, always=False):
        if positions or always:
            violations.append(Violation(name, check, tuple(labels[p] for p in positions)))
            for p in positions:
                broken.setdefault(p, []).append(f"{name}:{check}")

    every = list(range(len(labels)))
    for name, spec in schema.items():
        if name not in batch.columns:
            add(name, "missing", every, always=True)
            continue
        if not _type_ok(batch[name], spec.dtype):
            add(name, "dtype", every, always=True)
            continue
        cells = batch[name].tolist()
        present = [(p, v) for p, v in enumerate(cells) if not _missing(v)]
        if not spec.nullable:
            add(name, "null", [p for p, v in enumerate(cells) if _missing(v)])
        if spec.min is not None:
            add(name, "min", [p for p, v in present if v < spec.min])
        if spec.max is not None:
            add(name, "max", [p for p, v in present if v > spec.max])
        if spec.allowed is not None:
            allowed = list(spec.allowed)
            add(name, "allowed", [p for p, v in present if v not in allowed])
        if spec.unique:
            counts = Counter(v for _, v in present)
            add(name, "unique", [p for p, v in present if counts[v] > 1])

    keep = [p not in broken for p in range(len(labels))]
    reasons = {labels[p]: why for p, why in sorted(broken.items())}
    accepted = batch.iloc[[p for p in range(len(labels)) if keep[p]]]
    quarantined = batch.iloc[[p for p in range(len(labels)) if not keep[p]]]
    return ValidationResult(violations, accepted, quarantined, reasons)
