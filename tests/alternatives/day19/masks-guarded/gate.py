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
import tempfile
import time
from pathlib import Path

import numpy as np


def _check_rows(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    if len(X) == 0:
        raise ValueError("no rows to score")
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    labels = _check_rows(X, y, metric)
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _check_rows(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
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


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(X, y, slice_by, metric, margin, slice_tolerance, max_size_bytes, max_latency_ms):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, int) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    _check_rows(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)


def _inputs(uri) -> dict | None:
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row) -> float:
    model.predict(row)  # warm-up
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def _guard(name, limit, compute) -> Check:
    try:
        return compute()
    except Exception as exc:  # noqa: BLE001 - a check that cannot be computed fails
        return Check(name, False, None, limit, f"{name} could not be computed: {type(exc).__name__}: {exc}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow.exceptions import MlflowException

    _validate(X, y, slice_by, metric, margin, slice_tolerance, max_size_bytes, max_latency_ms)
    labels = np.asarray(y)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        champion_version = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        champion_version = None
    if champion_version is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as exc:
        raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

    checks = []
    if champion_version is None:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, "first deploy: no champion to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{champion_version}"
        champion = _load_champion(champion_uri)

        def metric_check():
            base = score(champion, X, labels, metric)
            value = score(candidate, X, labels, metric)
            limit = base + margin
            return Check("metric", bool(value > limit), value, limit,
                         f"candidate {metric} {value:.4f} vs champion {base:.4f} + margin {margin} = {limit:.4f}")

        def slices_check():
            old = slice_scores(champion, X, labels, slice_by, metric)
            new = slice_scores(candidate, X, labels, slice_by, metric)
            drops = {key: old[key] - new[key] for key in old if key in new}
            if not drops:
                return Check("slices", True, None, slice_tolerance, "no slice scored for both models")
            worst = max(drops.values())
            regressed = sorted((k for k, d in drops.items() if d > slice_tolerance), key=str)
            text = ", ".join(f"{k}: {old[k]:.4f} -> {new[k]:.4f}" for k in regressed)
            return Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                         f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: {text or 'none'}")

        def signature_check():
            old, new = _inputs(champion_uri), _inputs(candidate_uri)
            if old is None or new is None:
                return Check("signature", False, None, 0, "a model was logged without a signature")
            problems = signature_problems(old, new)
            return Check("signature", not problems, len(problems), 0,
                         f"{len(problems)} problem(s)" + ("".join(f"; {p}" for p in problems)))

        checks += [_guard("metric", None, metric_check), _guard("slices", slice_tolerance, slices_check),
                   _guard("signature", 0, signature_check)]

    def size_check():
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        return Check("size", size <= max_size_bytes, size, max_size_bytes,
                     f"{size} bytes (budget {max_size_bytes})")

    def latency_check():
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        value = float(seconds) * 1000
        return Check("latency", bool(value <= max_latency_ms), value, max_latency_ms,
                     f"{value:.3f} ms for one prediction (budget {max_latency_ms} ms)")

    checks += [_guard("size", max_size_bytes, size_check), _guard("latency", max_latency_ms, latency_check)]
    return GateReport(candidate_uri, champion_version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate failed: {', '.join(failed)}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        current = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        current = None
    if current != report.champion:
        raise RuntimeError(f"the champion is {current!r} now, the report was judged against {report.champion!r}")
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
