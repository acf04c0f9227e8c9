"""Day 19: a model validation gate in front of the MLflow registry's `champion` alias."""

from __future__ import annotations

import math
import numbers
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
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


def _validate(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    y = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")
    return y


def _score(model, X, y, metric):
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    y = _validate(X, y, metric)
    return _score(model, X, y, metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(y[rows])) < 2:
            continue
        result[int(value) if isinstance(value, np.integer) else bool(value) if isinstance(value, np.bool_) else value] = _score(model, X[rows], y[rows], metric)
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
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _columns(mlflow, uri):
    signature = mlflow.models.get_model_info(uri).signature
    if signature is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row):
    model.predict(row)  # warm-up
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    y = _validate(X, y, metric)
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, int) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        champion = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        champion = None
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri!r}: {error}") from error

    checks = []
    if champion is None:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, "first deploy: no champion to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            old = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:  # noqa: BLE001
            old, load_error = None, error
        # metric
        try:
            if old is None:
                raise load_error
            value = _score(candidate, X, y, metric)
            limit = _score(old, X, y, metric) + margin
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"{metric} {value:.4f} against champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("metric", False, None, None, f"could not score: {error!r}"))
        # slices
        try:
            if old is None:
                raise load_error
            new_scores = slice_scores(candidate, X, y, slice_by, metric)
            old_scores = slice_scores(old, X, y, slice_by, metric)
            drops = {k: old_scores[k] - new_scores[k] for k in old_scores if k in new_scores}
            if not drops:  # every slice left out: nothing regressed
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored for both models"))
            else:
                worst = max(drops.values())
                regressed = sorted((k for k, d in drops.items() if d > slice_tolerance), key=str)
                text = ", ".join(f"{k}: {drops[k]:.4f}" for k in regressed)
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: {text or 'none'}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("slices", False, None, slice_tolerance, f"could not score slices: {error!r}"))
        # signature
        try:
            old_cols = _columns(mlflow, champion_uri)
            new_cols = _columns(mlflow, candidate_uri)
            if old_cols is None or new_cols is None:
                checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
            else:
                problems = signature_problems(old_cols, new_cols)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"could not read signatures: {error!r}"))
    # size
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes against a budget of {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not measure size: {error!r}"))
    # latency
    try:
        measure = measure_latency or _default_latency
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms against a budget of {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("latency", False, None, max_latency_ms, f"could not measure latency: {error!r}"))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError(f"the gate did not pass: failed checks {failed or 'none run'}")
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        current = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        current = None
    if current != report.champion:
        raise RuntimeError(f"the report was judged against {report.champion!r}, champion is {current!r} now")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
