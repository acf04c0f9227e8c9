"""Day 19: a model validation gate in front of the MLflow registry's `champion` alias.

Contract (the tests check exactly this; README tasks 1-4 explain each part):
- `score(model, X, y, metric="roc_auc") -> float` and
  `slice_scores(model, X, y, slice_by, metric="roc_auc") -> dict`: the held-out metric,
  overall and per value of one column.
- `signature_problems(champion, candidate) -> list[str]`: one message per input column
  that differs between two `{column: type}` mappings, sorted by column.
- `run_gate(tracking_uri, model_name, candidate_uri, X, y, *, slice_by, ...) -> GateReport`:
  all five checks (metric, slices, signature, size, latency) of a candidate against the
  version `champion` points at; reads the registry, never writes it.
- `promote(tracking_uri, model_name, report) -> str`: registers a passing candidate,
  points `champion` at it and `previous-champion` at the version it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

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


import math
import numbers
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.exceptions import MlflowException


def _check_rows(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    _check_rows(X, y, metric)
    labels = np.asarray(y)
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`."""
    _check_rows(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    labels = np.asarray(y)
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(labels[rows])) < 2:
            continue
        result[value.item() if isinstance(value, (np.integer, np.bool_)) else value] = score(model, X[rows], labels[rows], metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    problems = []
    for column in sorted(set(champion) | set(candidate)):
        if column not in candidate:
            problems.append(f"column '{column}' ({champion[column]}) is missing from the candidate")
        elif column not in champion:
            problems.append(f"column '{column}' ({candidate[column]}) is new in the candidate")
        elif champion[column] != candidate[column]:
            problems.append(f"column '{column}' changed type: {champion[column]} in the champion, "
                            f"{candidate[column]} in the candidate")
    return problems


def _nonneg(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


def _signature_of(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row) -> float:
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow import MlflowClient

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    _nonneg("margin", margin)
    _nonneg("slice_tolerance", slice_tolerance)
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if (isinstance(max_latency_ms, bool) or not isinstance(max_latency_ms, numbers.Real)
            or not math.isfinite(max_latency_ms) or max_latency_ms <= 0):
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError("X must have rows and one label per row")
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    labels = np.asarray(y)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        champion = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        champion = None
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as exc:
        raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

    checks = []
    if champion is not None:
        champion_uri = f"models:/{model_name}/{champion}"
        champion_model = _load_champion(champion_uri)
        try:
            new, old = score(candidate, X, labels, metric), score(champion_model, X, labels, metric)
            limit = old + margin
            checks.append(Check("metric", bool(new > limit), new, limit,
                                f"{metric}: candidate {new:.4f}, champion {old:.4f} + margin {margin} = {limit:.4f}"))
        except Exception as exc:
            checks.append(Check("metric", False, None, None, f"could not score: {exc!r}"))
        try:
            new_s = slice_scores(candidate, X, labels, slice_by, metric)
            old_s = slice_scores(champion_model, X, labels, slice_by, metric)
            common = [k for k in old_s if k in new_s]
            drops = {k: old_s[k] - new_s[k] for k in common}
            if drops:
                worst = max(drops.values())
                bad = {k: d for k, d in drops.items() if d > slice_tolerance}
                detail = ", ".join(f"{k}: {old_s[k]:.4f} -> {new_s[k]:.4f} (drop {d:.4f})" for k, d in bad.items())
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f}, tolerance {slice_tolerance}"
                                    + (f"; regressed: {detail}" if bad else "")))
            else:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice scored for both models"))
        except Exception as exc:
            checks.append(Check("slices", False, None, slice_tolerance, f"could not score slices: {exc!r}"))
        try:
            old_sig, new_sig = _signature_of(champion_uri), _signature_of(candidate_uri)
            if old_sig is None or new_sig is None:
                checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
            else:
                problems = signature_problems(old_sig, new_sig)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} problem(s): " + "; ".join(problems)))
        except Exception as exc:
            checks.append(Check("signature", False, None, 0, f"could not read signatures: {exc!r}"))
    else:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, "first deploy: nothing to compare with"))

    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes}"))
    except Exception as exc:
        checks.append(Check("size", False, None, max_size_bytes, f"could not measure size: {exc!r}"))

    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as exc:
        checks.append(Check("latency", False, None, max_latency_ms, f"could not measure latency: {exc!r}"))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow import MlflowClient

    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError(f"the gate did not pass: failed checks {failed}")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        current = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        current = None
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion!r}, "
                           f"but champion is {current!r} now")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
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
