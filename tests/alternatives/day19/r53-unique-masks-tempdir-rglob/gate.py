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

import math
import numbers
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

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



def _check_rows(X, y):
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    y = np.asarray(y)
    _check_rows(X, y)
    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    y = np.asarray(y)
    _check_rows(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        y_slice = y[rows]
        if metric == "roc_auc" and len(np.unique(y_slice)) < 2:
            continue
        result[_py(value)] = score(model, X[rows], y_slice, metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    problems = []
    for column in sorted(set(champion) | set(candidate)):
        if column not in candidate:
            problems.append(f"column {column!r} ({champion[column]}) is missing from the candidate")
        elif column not in champion:
            problems.append(f"column {column!r} ({candidate[column]}) is new in the candidate")
        elif champion[column] != candidate[column]:
            problems.append(f"column {column!r} changed type: {champion[column]} in the champion, "
                            f"{candidate[column]} in the candidate")
    return problems


def _number(name, value):
    if isinstance(value, bool) or isinstance(value, Decimal) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    return value


_NO_CHAMPION = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in _NO_CHAMPION:
            return None
        raise


def _signature(uri):
    import mlflow
    info = mlflow.models.get_model_info(uri)
    if info.signature is None or info.signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in info.signature.inputs.inputs}


def _default_measure(model, row):
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
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _number("margin", margin)
    slice_tolerance = _number("slice_tolerance", slice_tolerance)
    if margin < 0 or slice_tolerance < 0:
        raise ValueError("margin and slice_tolerance must not be negative")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, (int, np.integer)) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)
    max_latency_ms = _number("max_latency_ms", max_latency_ms)
    if max_latency_ms <= 0:
        raise ValueError("max_latency_ms must be positive")
    y = np.asarray(y)
    _check_rows(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as exc:
        raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

    checks = []
    if champion is None:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, f"{name}: first deploy, nothing to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        champion_model = None
        load_error = None
        try:
            champion_model = mlflow.sklearn.load_model(champion_uri)
        except Exception as exc:
            load_error = exc

        # metric
        try:
            if load_error is not None:
                raise load_error
            value = score(candidate, X, y, metric)
            limit = score(champion_model, X, y, metric) + margin
            passed = bool(value > limit)
            checks.append(Check("metric", passed, value, limit,
                                f"candidate {metric} {value:.4f} vs champion + margin {limit:.4f}"))
        except Exception as exc:
            checks.append(Check("metric", False, None, None, f"metric could not be computed: {exc!r}"))

        # slices
        try:
            if load_error is not None:
                raise load_error
            new = slice_scores(candidate, X, y, slice_by, metric)
            old = slice_scores(champion_model, X, y, slice_by, metric)
            drops = {key: old[key] - new[key] for key in old if key in new}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be compared"))
            else:
                worst = float(max(drops.values()))
                regressed = {k: d for k, d in drops.items() if d > slice_tolerance}
                passed = worst <= slice_tolerance
                detail = ", ".join(f"{k!r} dropped {d:.4f} ({old[k]:.4f} -> {new[k]:.4f})"
                                   for k, d in regressed.items())
                message = (f"worst slice drop {worst:.4f}, tolerance {slice_tolerance}"
                           + (f"; regressed: {detail}" if regressed else "; no slice regressed"))
                checks.append(Check("slices", bool(passed), worst, slice_tolerance, message))
        except Exception as exc:
            checks.append(Check("slices", False, None, slice_tolerance, f"slices could not be computed: {exc!r}"))

        # signature
        try:
            old_sig = _signature(champion_uri)
            new_sig = _signature(candidate_uri)
            if old_sig is None or new_sig is None:
                checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
            else:
                problems = signature_problems(old_sig, new_sig)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} signature problem(s): " + "; ".join(problems)))
        except Exception as exc:
            checks.append(Check("signature", False, None, 0, f"signature could not be compared: {exc!r}"))

    # size
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            size = sum(p.stat().st_size for p in Path(local).rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"artifacts {size} bytes, budget {max_size_bytes} bytes"))
    except Exception as exc:
        checks.append(Check("size", False, None, max_size_bytes, f"size could not be measured: {exc!r}"))

    # latency
    try:
        measure = measure_latency or _default_measure
        seconds = float(measure(candidate, X.iloc[[0]]))
        ms = seconds * 1000
        passed = (not math.isnan(ms)) and ms <= max_latency_ms
        checks.append(Check("latency", bool(passed), ms, max_latency_ms,
                            f"one prediction took {ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as exc:
        checks.append(Check("latency", False, None, max_latency_ms, f"latency could not be measured: {exc!r}"))

    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError(f"the gate did not pass; failed checks: {', '.join(failed) or 'none ran'}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"champion is now {current}, the report was judged against {report.champion}")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
