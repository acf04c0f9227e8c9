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

import math

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
    return _Validator(batch, schema).run()


class _Validator:
    """Builds one boolean mask per rule, then splits the batch with their OR."""

    def __init__(self, batch: pd.DataFrame, schema: Mapping[str, Column]):
        for name, spec in schema.items():
            if not isinstance(spec.dtype, str) or spec.dtype not in DTYPES:
                raise ValueError(f"{name}: unknown dtype {spec.dtype!r}")
        if not batch.index.is_unique:
            raise ValueError("batch index must be unique")
        self.batch = batch
        self.schema = schema
        self.masks: list[tuple[str, str, pd.Series]] = []

    def add(self, name: str, check: str, mask: pd.Series, always: bool = False) -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.batch.index)
        if always or mask.any():
            self.masks.append((name, check, mask))

    def run(self) -> ValidationResult:
        everything = pd.Series(True, index=self.batch.index)
        for name, spec in self.schema.items():
            if name not in self.batch.columns:
                self.add(name, "missing", everything, always=True)
                continue
            col = self.batch[name]
            if not _TYPE_CHECKS[spec.dtype](col):
                self.add(name, "dtype", everything, always=True)
                continue
            present = col.notna().to_numpy(dtype=bool)
            if not spec.nullable:
                self.add(name, "null", ~present)
            if spec.min is not None:
                self.add(name, "min", present & _below(col, spec.min, present))
            if spec.max is not None:
                self.add(name, "max", present & _above(col, spec.max, present))
            if spec.allowed is not None:
                self.add(name, "allowed", present & ~col.isin(list(spec.allowed)).to_numpy(dtype=bool))
            if spec.unique:
                dup = col[present].duplicated(keep=False).reindex(col.index, fill_value=False)
                self.add(name, "unique", present & dup.to_numpy(dtype=bool))

        bad = pd.Series(False, index=self.batch.index)
        reasons: dict = {}
        for name, check, mask in self.masks:
            bad |= mask
            for label in self.batch.index[mask.to_numpy()]:
                reasons.setdefault(label, []).append(f"{name}:{check}")
        violations = [Violation(n, c, tuple(self.batch.index[m.to_numpy()].tolist())) for n, c, m in self.masks]
        keep = ~bad.to_numpy()
        return ValidationResult(violations, self.batch.loc[keep].copy(), self.batch.loc[~keep].copy(),
                                {k: reasons[k] for k in self.batch.index[~keep]})


def _is_bool(col):
    return col.dtype == np.dtype(bool) or isinstance(col.dtype, pd.BooleanDtype)


def _is_str(col):
    if isinstance(col.dtype, pd.StringDtype):
        return True
    if col.dtype == np.dtype(object):
        return col.dropna().map(lambda v: isinstance(v, str)).all()
    return False


_TYPE_CHECKS = {
    "int": lambda c: not _is_bool(c) and ptypes.is_integer_dtype(c.dtype),
    "float": lambda c: not _is_bool(c) and c.dtype != np.dtype(object) and ptypes.is_numeric_dtype(c.dtype),
    "str": _is_str,
    "bool": _is_bool,
    "datetime": lambda c: ptypes.is_datetime64_any_dtype(c.dtype),
}


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def _int_values(col, present):
    """Integer column -> (numpy int array with missing filled, dtype info)."""
    dt = col.dtype.numpy_dtype if hasattr(col.dtype, "numpy_dtype") else col.dtype
    arr = col.to_numpy(dtype=dt, na_value=0) if col.hasnans else col.to_numpy(dtype=dt)
    return arr, np.iinfo(dt)


def _compare(col, bound, present, below: bool):
    """Exact 'value < bound' (below) or 'value > bound' mask."""
    bound = _scalar(bound)
    n = len(col)
    if ptypes.is_integer_dtype(col.dtype) and not _is_bool(col):
        arr, info = _int_values(col, present)
        if isinstance(bound, float):
            if math.isinf(bound):
                return np.full(n, (bound == math.inf) if below else (bound == -math.inf))
            bound = math.ceil(bound) if below else math.floor(bound)
        if bound > info.max:
            return np.full(n, below)
        if bound < info.min:
            return np.full(n, not below)
        b = arr.dtype.type(bound)
        return arr < b if below else arr > b
    if ptypes.is_float_dtype(col.dtype):
        arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if isinstance(bound, int):
            f = float(bound) if abs(bound) < 2**1023 else math.copysign(math.inf, bound)
            if below and f < bound:
                f = math.nextafter(f, math.inf)
            if not below and f > bound:
                f = math.nextafter(f, -math.inf)
            bound = f
        with np.errstate(invalid="ignore"):
            return arr < bound if below else arr > bound
    res = (col < bound) if below else (col > bound)
    return res.fillna(False).to_numpy(dtype=bool)


def _below(col, bound, present):
    return _compare(col, bound, present, True)


def _above(col, bound, present):
    return _compare(col, bound, present, False)
