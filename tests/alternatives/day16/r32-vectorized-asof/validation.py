"""Batch validation with boolean masks."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as pt

DTYPES = ("int", "float", "str", "bool", "datetime")


@dataclass(frozen=True)
class Column:
    dtype: str
    nullable: bool = False
    min: Any = None
    max: Any = None
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


def _type_ok(col: pd.Series, kind: str) -> bool:
    d = col.dtype
    if kind == "bool":
        return pt.is_bool_dtype(d) and d != object
    if pt.is_bool_dtype(d) and d != object:
        return False
    if kind == "int":
        return pt.is_integer_dtype(d)
    if kind == "float":
        return pt.is_numeric_dtype(d) and d != object
    if kind == "datetime":
        return pt.is_datetime64_any_dtype(d)
    if kind == "str":
        if d == object:
            return all(isinstance(v, str) for v in col if not pd.isna(v))
        return isinstance(d, pd.StringDtype)
    return False


def _exact_cmp(col: pd.Series, bound, below: bool) -> np.ndarray:
    """Per-value exact comparison (Python numbers compare ints and floats exactly)."""
    out = np.zeros(len(col), dtype=bool)
    for i, v in enumerate(col.tolist()):
        if pd.isna(v):
            continue
        out[i] = v < bound if below else v > bound
    return out


def _python_bounds(spec):
    """A numpy number as a bound is the Python number it holds (np.int64(2**53 + 1) is that integer)."""
    import dataclasses

    import numpy

    plain = {k: getattr(spec, k).item() for k in ("min", "max") if isinstance(getattr(spec, k), numpy.number)}
    return dataclasses.replace(spec, **plain) if plain else spec


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    schema = {name: _python_bounds(spec) for name, spec in schema.items()}
    for name, spec in schema.items():
        if spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r} for {name!r}")
    if not batch.index.is_unique:
        raise ValueError("the batch's index repeats a label")
    n = len(batch)
    violations, masks = [], []
    everything = np.ones(n, dtype=bool)
    for name, spec in schema.items():
        checks = []
        if name not in batch.columns:
            checks.append(("missing", everything, True))
        elif not _type_ok(batch[name], spec.dtype):
            checks.append(("dtype", everything, True))
        else:
            col = batch[name]
            present = col.notna().to_numpy(dtype=bool)
            if not spec.nullable:
                checks.append(("null", ~present, False))
            numeric = spec.dtype in ("int", "float")
            if spec.min is not None:
                m = _exact_cmp(col, spec.min, True) if numeric else present & (col < spec.min).fillna(False).to_numpy(dtype=bool)
                checks.append(("min", m, False))
            if spec.max is not None:
                m = _exact_cmp(col, spec.max, False) if numeric else present & (col > spec.max).fillna(False).to_numpy(dtype=bool)
                checks.append(("max", m, False))
            if spec.allowed is not None:
                allowed = list(spec.allowed)
                m = np.array([p and not any(v == a for a in allowed) for v, p in zip(col.tolist(), present)],
                             dtype=bool)
                checks.append(("allowed", m, False))
            if spec.unique:
                m = present & col.duplicated(keep=False).to_numpy(dtype=bool)
                # missing values are never duplicates of each other
                m &= present
                dup = col[present].duplicated(keep=False)
                m = np.zeros(n, dtype=bool)
                m[np.flatnonzero(present)] = dup.to_numpy(dtype=bool)
                checks.append(("unique", m, False))
        for check, mask, always in checks:
            mask = np.asarray(mask, dtype=bool)
            if always or mask.any():
                violations.append(Violation(name, check, tuple(batch.index[mask])))
                masks.append((f"{name}:{check}", mask))
    bad = np.zeros(n, dtype=bool)
    reasons: dict = {}
    for label, mask in masks:
        bad |= mask
        for row in batch.index[mask]:
            reasons.setdefault(row, []).append(label)
    return ValidationResult(violations, batch[~bad].copy(), batch[bad].copy(), reasons)
