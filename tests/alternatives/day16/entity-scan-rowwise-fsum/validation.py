"""Batch validation, one value at a time (no masks)."""

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


def _type_ok(series: pd.Series, kind: str) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool):
        return kind == "bool"
    if kind == "bool":
        return False
    if kind == "datetime":
        return isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M")
    if kind == "int":
        if isinstance(dtype, np.dtype):
            return dtype.kind in "iu"
        return isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu"
    if kind == "float":
        return getattr(dtype, "kind", "O") in "iuf"
    # "str"
    if isinstance(dtype, pd.StringDtype):
        return True
    if dtype == object:
        return all(isinstance(v, str) or pd.isna(v) for v in series.tolist())
    return False


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
        raise ValueError("repeated index labels")

    found: list[tuple[str, str, list]] = []
    for name, spec in schema.items():
        if name not in batch.columns:
            found.append((name, "missing", list(labels)))
            continue
        if not _type_ok(batch[name], spec.dtype):
            found.append((name, "dtype", list(labels)))
            continue
        values = batch[name].tolist()
        is_missing = [bool(pd.isna(v)) for v in values]
        counts = Counter(v for v, m in zip(values, is_missing) if not m)
        allowed = None if spec.allowed is None else set(spec.allowed)
        rows: dict[str, list] = {"null": [], "min": [], "max": [], "allowed": [], "unique": []}
        for label, value, gone in zip(labels, values, is_missing):
            if gone:
                if not spec.nullable:
                    rows["null"].append(label)
                continue
            if spec.min is not None and value < spec.min:
                rows["min"].append(label)
            if spec.max is not None and value > spec.max:
                rows["max"].append(label)
            if allowed is not None and value not in allowed:
                rows["allowed"].append(label)
            if spec.unique and counts[value] > 1:
                rows["unique"].append(label)
        found.extend((name, check, hit) for check, hit in rows.items() if hit)

    reasons: dict = {}
    for name, check, hit in found:
        for label in hit:
            reasons.setdefault(label, []).append(f"{name}:{check}")
    keep = [label not in reasons for label in labels]
    bad = [not k for k in keep]
    return ValidationResult(
        violations=[Violation(n, c, tuple(h)) for n, c, h in found],
        accepted=batch.loc[keep],
        quarantined=batch.loc[bad],
        reasons=reasons,
    )
