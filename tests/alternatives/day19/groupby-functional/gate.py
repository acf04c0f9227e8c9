"""Day 19 gate, pandas-first: groupby slices, a table of checks, client-only promotion."""

from __future__ import annotations

import math
import os
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
    name: str
    passed: bool
    value: float | None
    limit: float | None
    message: str


@dataclass(frozen=True)
class GateReport:
    candidate: str
    champion: str | None
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)


def _labels(X: pd.DataFrame, y) -> pd.Series:
    values = pd.Series(np.asarray(y)).reset_index(drop=True)
    if X.shape[0] == 0 or X.shape[0] != values.shape[0]:
        raise ValueError(f"need as many labels as rows, and at least one row: {X.shape[0]} rows, {values.shape[0]} labels")
    return values


def _measure(model, X: pd.DataFrame, y: pd.Series, metric: str) -> float:
    from sklearn import metrics

    if metric == "accuracy":
        return float(metrics.accuracy_score(y.to_numpy(), model.predict(X)))
    return float(metrics.roc_auc_score(y.to_numpy(), model.predict_proba(X)[:, 1]))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    return _measure(model, X, _labels(X, y), metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    labels = _labels(X, y)
    if slice_by not in X:
        raise KeyError(slice_by)
    keys = X[slice_by].reset_index(drop=True)
    if keys.isna().any():
        raise ValueError(f"{slice_by} has rows with no value")
    rows = X.reset_index(drop=True)
    result = {}
    for key, positions in rows.groupby(keys, sort=False).groups.items():
        part = labels.loc[positions]
        if metric == "roc_auc" and part.nunique() < 2:
            continue
        result[key] = _measure(model, rows.loc[positions], part.reset_index(drop=True), metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    found = []
    for name in sorted({*champion.keys(), *candidate.keys()}):
        before, after = champion.get(name), candidate.get(name)
        if before == after:
            continue
        if after is None:
            found.append(f"{name}: expected by callers ({before}) but the candidate does not take it")
        elif before is None:
            found.append(f"{name}: the candidate requires it ({after}) but callers never send it")
        else:
            found.append(f"{name}: {before} became {after}")
    return found


def _finite(name, value, allow_zero):
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (value >= 0 if allow_zero else value > 0))
    if not ok:
        raise ValueError(f"bad {name}: {value!r}")


def _timed(model, row) -> float:
    model.predict(row)
    best = math.inf
    for _ in range(3):
        began = time.perf_counter()
        model.predict(row)
        best = min(best, time.perf_counter() - began)
    return best


def _inputs(uri: str) -> dict[str, str] | None:
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None:
        return None
    return {column["name"]: column["type"] for column in signature.inputs.to_dict()}


def _bytes(uri: str) -> int:
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        root = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        total = 0
        for directory, _, files in os.walk(root):
            total += sum(os.path.getsize(os.path.join(directory, f)) for f in files)
        return total


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow.exceptions import MlflowException

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    _finite("margin", margin, True)
    _finite("slice_tolerance", slice_tolerance, True)
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError(f"bad max_size_bytes: {max_size_bytes!r}")
    _finite("max_latency_ms", max_latency_ms, False)
    _labels(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    try:
        champion = client.get_model_version_by_alias(model_name, CHAMPION).version
        champion = str(champion)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        if not first_deploy:
            raise LookupError(f"no champion for {model_name}; first deploy? say first_deploy=True") from None
        champion = None
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(str(error)) from error

    def metric_check():
        if champion is None:
            return None, None, True, "first deploy"
        old = score(incumbent, X, y, metric)
        new = score(candidate, X, y, metric)
        return new, old + margin, new > old + margin, f"{metric} {new:.4f} vs champion {old:.4f} + {margin}"

    def slices_check():
        if champion is None:
            return None, None, True, "first deploy"
        old = slice_scores(incumbent, X, y, slice_by, metric)
        new = slice_scores(candidate, X, y, slice_by, metric)
        drops = pd.Series({k: old[k] - new[k] for k in old if k in new}, dtype=float)
        if drops.empty:
            return None, slice_tolerance, True, "nothing to compare"
        bad = drops[drops > slice_tolerance]
        return (float(drops.max()), slice_tolerance, bad.empty,
                "regressed: " + ", ".join(f"{k} by {v:.4f}" for k, v in bad.items()) if len(bad) else "ok")

    def signature_check():
        if champion is None:
            return None, None, True, "first deploy"
        old, new = _inputs(f"models:/{model_name}/{champion}"), _inputs(candidate_uri)
        if old is None or new is None:
            return None, 0, False, "missing signature"
        problems = signature_problems(old, new)
        return len(problems), 0, not problems, " | ".join(problems) or "compatible"

    def size_check():
        size = _bytes(candidate_uri)
        return size, max_size_bytes, size <= max_size_bytes, f"{size} bytes of {max_size_bytes}"

    def latency_check():
        seconds = (measure_latency or _timed)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1e3
        return ms, max_latency_ms, ms <= max_latency_ms, f"{ms:.3f} ms of {max_latency_ms} ms"

    incumbent = _load_champion(f"models:/{model_name}/{champion}") if champion else None
    limits = {"slices": slice_tolerance, "signature": 0, "size": max_size_bytes, "latency": max_latency_ms}
    table = {"metric": metric_check, "slices": slices_check, "signature": signature_check,
             "size": size_check, "latency": latency_check}
    checks = []
    for name in CHECKS:
        try:
            value, limit, ok, text = table[name]()
        except Exception as error:  # noqa: BLE001
            value, limit, ok, text = None, limits.get(name), False, f"error: {error!r}"
        checks.append(Check(name, bool(ok), value, limit, text))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    if not report.passed:
        raise ValueError("gate failed: " + ", ".join(c.name for c in report.checks if not c.passed))
    mlflow.set_tracking_uri(tracking_uri)  # get_model_info below resolves the candidate's URI there
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    try:
        current = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        current = None
    if current != report.champion:
        raise RuntimeError(f"champion is {current}, the gate judged against {report.champion}")
    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        client.create_registered_model(model_name)
    info = mlflow.models.get_model_info(report.candidate)
    created = client.create_model_version(model_name, source=report.candidate, run_id=info.run_id,
                                          model_id=info.model_id)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, created.version)
    return str(created.version)


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
