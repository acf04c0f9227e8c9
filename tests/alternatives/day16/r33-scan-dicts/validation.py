"""Batch validation with quarantine, checked value by value in plain Python."""
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


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and v != v) \
        or (isinstance(v, np.datetime64) and np.isnat(v))


def _kind_ok(series: pd.Series, kind: str) -> bool:
    dtype = series.dtype
    k = dtype.kind
    if kind == "int":
        return k in "iu"
    if kind == "float":
        return k in "iufc"
    if kind == "bool":
        return k == "b"
    if kind == "datetime":
        return k == "M"
    if isinstance(dtype, pd.StringDtype):
        return True
    return dtype == object and all(isinstance(v, str) for v in series.tolist() if not _is_missing(v))


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def validate_batch(batch: pd.DataFrame, schema: Mapping[str, Column]) -> ValidationResult:
    for spec in schema.values():
        if spec.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {spec.dtype!r}")
    labels = list(batch.index)
    if len(set(labels)) != len(labels):
        raise ValueError("repeated index label")
    violations: list[Violation] = []
    broken = [[] for _ in labels]  # per position, the "column:check" rules broken

    def add(name, check, positions, always=False):
        if positions or always:
            violations.append(Violation(name, check, tuple(labels[p] for p in positions)))
            for p in positions:
                broken[p].append(f"{name}:{check}")

    for name, spec in schema.items():
        if name not in batch.columns:
            add(name, "missing", list(range(len(labels))), True)
            continue
        series = batch[name]
        if not _kind_ok(series, spec.dtype):
            add(name, "dtype", list(range(len(labels))), True)
            continue
        vals = [_plain(v) for v in series.tolist()]
        present = [p for p, v in enumerate(vals) if not _is_missing(v)]
        if not spec.nullable:
            add(name, "null", [p for p, v in enumerate(vals) if _is_missing(v)])
        if spec.min is not None:
            lo = _plain(spec.min)
            add(name, "min", [p for p in present if vals[p] < lo])
        if spec.max is not None:
            hi = _plain(spec.max)
            add(name, "max", [p for p in present if vals[p] > hi])
        if spec.allowed is not None:
            allowed = [_plain(a) for a in spec.allowed]
            add(name, "allowed", [p for p in present if not any(vals[p] == a for a in allowed)])
        if spec.unique:
            counts = Counter(vals[p] for p in present)
            add(name, "unique", [p for p in present if counts[vals[p]] > 1])

    bad = [bool(b) for b in broken]
    reasons = {labels[p]: list(b) for p, b in enumerate(broken) if b}
    good_pos = [p for p, b in enumerate(bad) if not b]
    bad_pos = [p for p, b in enumerate(bad) if b]
    return ValidationResult(violations, batch.iloc[good_pos].copy(), batch.iloc[bad_pos].copy(), reasons)
