"""Task 2: validation row by row, with plain Python sets and lists."""

from __future__ import annotations

from collections import Counter
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


def _is_missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _kind(col: pd.Series) -> set:
    dt = col.dtype
    if isinstance(dt, pd.BooleanDtype) or dt == np.dtype(bool):
        return {"bool"}
    if isinstance(dt, pd.DatetimeTZDtype) or (isinstance(dt, np.dtype) and dt.kind == "M"):
        return {"datetime"}
    if isinstance(dt, pd.StringDtype):
        return {"str"}
    kinds = set()
    if dt == object:
        if all(isinstance(v, str) for v in col.tolist() if not _is_missing(v)):
            kinds.add("str")
        return kinds
    if isinstance(dt, (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype, pd.UInt8Dtype,
                       pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)) or (
            isinstance(dt, np.dtype) and dt.kind in "iu"):
        return {"int", "float"}
    if isinstance(dt, (pd.Float32Dtype, pd.Float64Dtype)) or (isinstance(dt, np.dtype) and dt.kind == "f"):
        return {"float"}
    return kinds


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    unknown = [n for n, spec in schema.items() if spec.dtype not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype for {unknown}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")
    violations: list[Violation] = []
    reasons: dict = {}
    for name, spec in schema.items():
        broken: dict[str, list[int]] = {}
        if name not in batch.columns:
            broken["missing"] = list(range(len(labels)))
        elif spec.dtype not in _kind(batch[name]):
            broken["dtype"] = list(range(len(labels)))
        else:
            vals = [_py(v) for v in batch[name].tolist()]
            miss = [_is_missing(v) for v in vals]
            counts = Counter(v for v, m in zip(vals, miss) if not m) if spec.unique else Counter()
            allowed = None if spec.allowed is None else set(spec.allowed)
            for check in ("null", "min", "max", "allowed", "unique"):
                broken[check] = []
            for i, (v, m) in enumerate(zip(vals, miss)):
                if m:
                    if not spec.nullable:
                        broken["null"].append(i)
                    continue
                if spec.min is not None and v < spec.min:
                    broken["min"].append(i)
                if spec.max is not None and v > spec.max:
                    broken["max"].append(i)
                if allowed is not None and v not in allowed:
                    broken["allowed"].append(i)
                if spec.unique and counts[v] > 1:
                    broken["unique"].append(i)
        for check, positions in broken.items():
            if positions or check in ("missing", "dtype"):
                rows = tuple(labels[i] for i in positions)
                violations.append(Violation(name, check, rows))
                for r in rows:
                    reasons.setdefault(r, []).append(f"{name}:{check}")
    bad = np.array([lab in reasons for lab in labels], dtype=bool)
    return ValidationResult(violations, batch.iloc[np.flatnonzero(~bad)], batch.iloc[np.flatnonzero(bad)], reasons)
