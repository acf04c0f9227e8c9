"""Day 19 gate: plain functions, boolean masks, MlflowClient for the alias, median of perf_counter."""

from __future__ import annotations

import math
import statistics
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
NO_SUCH = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


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


def _validate(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    labels = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def _metric(model, X, labels, metric):
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _validate(X, y, metric)
    return _metric(model, X, labels, metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        part = labels[rows]
        if metric == "roc_auc" and len(np.unique(part)) < 2:
            continue
        result[value.item() if isinstance(value, (np.integer, np.bool_)) else value] = _metric(model, X[rows], part, metric)
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


def _number(name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number: {value!r}")
    return value


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code in NO_SUCH:
            return None
        raise


def _columns(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _failed(name, limit, error):
    return Check(name, False, None, limit, f"could not be computed: {type(error).__name__}: {error}")


def _default_latency(model, row):
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

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _number("margin", margin)
    slice_tolerance = _number("slice_tolerance", slice_tolerance)
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_latency_ms = _number("max_latency_ms", max_latency_ms, positive=True)
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = _champion_version(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"registered model {model_name!r} has no '{CHAMPION}' alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri!r}: {error}") from error

    checks = []
    if version is None:
        checks.append(Check("metric", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"))
        checks.append(Check("signature", True, None, 0, "first deploy: no champion's callers to break"))
    else:
        champion_uri = f"models:/{model_name}/{version}"
        champion, load_error = None, None
        try:
            champion = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:  # noqa: BLE001
            load_error = error
        try:
            if load_error:
                raise load_error
            new = score(candidate, X, labels, metric)
            old = score(champion, X, labels, metric)
            limit = old + margin
            checks.append(Check("metric", bool(new > limit), new, limit,
                                f"{metric} {new:.4f} against champion {old:.4f} + margin {margin} = {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("metric", None, error))
        try:
            if load_error:
                raise load_error
            new_slices = slice_scores(candidate, X, labels, slice_by, metric)
            old_slices = slice_scores(champion, X, labels, slice_by, metric)
            drops = {key: old_slices[key] - new_slices[key] for key in old_slices if key in new_slices}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored for both"))
            else:
                worst = float(max(drops.values()))
                bad = [f"{key!r} ({old_slices[key]:.4f} -> {new_slices[key]:.4f})"
                       for key, drop in drops.items() if drop > slice_tolerance]
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: "
                                    f"{', '.join(bad) or 'none'}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("slices", slice_tolerance, error))
        try:
            old_cols, new_cols = _columns(champion_uri), _columns(candidate_uri)
            if old_cols is None or new_cols is None:
                checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
            else:
                problems = signature_problems(old_cols, new_cols)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} problem(s): " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("signature", 0, error))

    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(path.stat().st_size for path in local.rglob("*") if path.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes against a budget of {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, error))

    try:
        seconds = (measure_latency or _default_latency)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms against a budget of {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, error))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate did not pass; failed checks: {', '.join(failed) or 'none ran'}")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion!r}, but it is {current!r} now")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
