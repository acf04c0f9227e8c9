"""Day 19: a model validation gate in front of the MLflow registry's `champion` alias.

Style: metric dispatch table, numpy `unique(return_inverse=True)` slicing, set algebra for
signatures, a registry lookup through the registered model's alias map, checks built by a
table of small functions each wrapped in one guard.
"""

from __future__ import annotations

import math
import numbers
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

METRICS = ("accuracy", "roc_auc")
CHECKS = ("metric", "slices", "signature", "size", "latency")
CHAMPION = "champion"
PREVIOUS = "previous-champion"


@dataclass(frozen=True)
class Check:
    """One check's verdict: `value` is what was measured, `limit` what it was held against."""

    name: str
    passed: bool
    value: float | None
    limit: float | None
    message: str


@dataclass(frozen=True)
class GateReport:
    candidate: str  # the candidate's model URI, as given to run_gate
    champion: str | None  # the champion's version it was judged against; None on a first deploy
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)


def _auc(model, X, y):
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, np.asarray(model.predict_proba(X))[:, 1]))


def _accuracy(model, X, y):
    from sklearn.metrics import accuracy_score
    return float(accuracy_score(y, model.predict(X)))


_SCORERS = {"roc_auc": _auc, "accuracy": _accuracy}


def _validate_rows(X, labels, metric):
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(_SCORERS)}")
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(X) != len(labels):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = np.asarray(y)
    _validate_rows(X, labels, metric)
    return _SCORERS[metric](model, X, labels)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = np.asarray(y)
    _validate_rows(X, labels, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has rows without a value")
    values, codes = np.unique(column.to_numpy(dtype=object).astype(str), return_inverse=True)
    originals = {}
    for raw in column.to_numpy(dtype=object):
        originals.setdefault(str(raw), raw)
    out = {}
    for code, text in enumerate(values):
        positions = np.flatnonzero(codes == code)
        part = labels[positions]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[originals[text]] = _SCORERS[metric](model, X.iloc[positions], part)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    found = []
    for column in set(champion) - set(candidate):
        found.append((column, f"column '{column}' ({champion[column]}) is missing from the candidate"))
    for column in set(candidate) - set(champion):
        found.append((column, f"column '{column}' ({candidate[column]}) is new in the candidate"))
    for column in set(champion) & set(candidate):
        if champion[column] != candidate[column]:
            found.append((column, f"column '{column}' changed type: {champion[column]} in the champion, "
                                  f"{candidate[column]} in the candidate"))
    return [message for _, message in sorted(found, key=lambda pair: pair[0])]


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _validate_options(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms):
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}")
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, numbers.Integral) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")


def _signature_of(uri):
    from mlflow.models import get_model_info

    signature = get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        raise ValueError(f"{uri} was logged without an input signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _artifact_bytes(uri):
    import mlflow

    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)
        if os.path.isfile(local):
            return os.path.getsize(local)
        total = 0
        for folder, _, files in os.walk(local):
            total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return total


def _default_latency(model, row):
    model.predict(row)
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _guarded(name, limit, compute):
    try:
        return compute()
    except Exception as exc:  # noqa: BLE001 - a check that cannot be computed fails, the rest still run
        return Check(name, False, None, limit, f"{name} could not be computed: {type(exc).__name__}: {exc}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow.exceptions import MlflowException

    _validate_options(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms)
    max_size_bytes = int(max_size_bytes)  # a NumPy integer is kept as the plain int it holds
    # and a NumPy float (np.float32) as the plain float it holds
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    labels = np.asarray(y)
    _validate_rows(X, labels, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = dict(client.get_registered_model(model_name).aliases)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        aliases = {}
    champion_version = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    if champion_version is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no '{CHAMPION}' alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as exc:  # noqa: BLE001
        raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

    checks = []
    if champion_version is None:
        for name, limit in (("metric", None), ("slices", slice_tolerance), ("signature", 0)):
            checks.append(Check(name, True, None, limit, f"first deploy: no champion to compare {name} with"))
    else:
        champion_uri = f"models:/{model_name}/{champion_version}"
        champion = _load_champion(champion_uri)

        def metric_check():
            limit = score(champion, X, labels, metric) + margin
            value = score(candidate, X, labels, metric)
            return Check("metric", bool(value > limit), value, limit,
                         f"candidate {metric} {value:.4f} vs champion + margin {limit:.4f}")

        def slices_check():
            old = slice_scores(champion, X, labels, slice_by, metric)
            new = slice_scores(candidate, X, labels, slice_by, metric)
            drops = {key: old[key] - new[key] for key in old if key in new}
            if not drops:
                return Check("slices", True, None, slice_tolerance, "no slice scored for both models")
            worst = max(drops.values())
            bad = sorted((key for key, drop in drops.items() if drop > slice_tolerance), key=str)
            detail = ", ".join(f"{key}: {old[key]:.4f} -> {new[key]:.4f}" for key in bad)
            return Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                         f"worst slice drop {worst:.4f} (tolerance {slice_tolerance}); regressed: {detail or 'none'}")

        def signature_check():
            problems = signature_problems(_signature_of(champion_uri), _signature_of(candidate_uri))
            return Check("signature", not problems, len(problems), 0,
                         f"{len(problems)} signature problems" + (": " + "; ".join(problems) if problems else ""))

        checks.append(_guarded("metric", None, metric_check))
        checks.append(_guarded("slices", slice_tolerance, slices_check))
        checks.append(_guarded("signature", 0, signature_check))

    def size_check():
        size = _artifact_bytes(candidate_uri)
        return Check("size", size <= max_size_bytes, size, max_size_bytes,
                     f"{size} bytes of artifacts, budget {max_size_bytes}")

    def latency_check():
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        return Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                     f"{ms:.3f} ms for one row, budget {max_latency_ms} ms")

    checks.append(_guarded("size", max_size_bytes, size_check))
    checks.append(_guarded("latency", max_latency_ms, latency_check))
    return GateReport(candidate_uri, champion_version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    failed = [check.name for check in report.checks if not check.passed]
    if not report.passed:
        raise ValueError(f"the gate failed: {', '.join(failed) or 'no checks'}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = dict(client.get_registered_model(model_name).aliases)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        aliases = {}
    current = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion}, the champion is {current} now")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version


class _Unloadable:
    """A champion mlflow.sklearn cannot load (logged with another flavor, say): using it raises that error,
    so the checks that need it fail with it instead of the gate."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name):
        raise self.error


def _load_champion(uri: str):
    import mlflow

    try:
        return mlflow.sklearn.load_model(uri)
    except Exception as exc:  # noqa: BLE001 - a champion that cannot be loaded fails the checks, not the gate
        return _Unloadable(exc)
