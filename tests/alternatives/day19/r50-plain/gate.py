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
import math
import statistics
import tempfile
import time
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


def _check_metric(metric):
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def _check_rows(X, y):
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    _check_metric(metric)
    y = np.asarray(y)
    _check_rows(X, y)
    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    _check_metric(metric)
    y = np.asarray(y)
    _check_rows(X, y)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(y[rows])) < 2:
            continue
        key = value.item() if isinstance(value, np.generic) else value
        result[key] = score(model, X[rows], y[rows], metric)
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


def _number(name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}, not {value!r}")
    return float(value) if isinstance(value, float) else value


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _inputs(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        raise ValueError(f"{uri} was logged without an input signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _failed(name, limit, error):
    return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")


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
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _check_metric(metric)
    margin = _number("margin", margin)
    slice_tolerance = _number("slice_tolerance", slice_tolerance)
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_latency_ms = float(_number("max_latency_ms", max_latency_ms, positive=True))
    y = np.asarray(y)
    _check_rows(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = _champion_version(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri!r}: {error}") from error

    checks = []
    if version is None:
        checks.append(Check("metric", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"))
        checks.append(Check("signature", True, None, 0, "first deploy: no champion to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{version}"
        champion = None
        champion_error = None
        try:
            champion = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:  # noqa: BLE001
            champion_error = error
        # metric
        try:
            if champion_error:
                raise champion_error
            value = score(candidate, X, y, metric)
            limit = score(champion, X, y, metric) + margin
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"candidate {metric} {value:.4f} vs champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("metric", None, error))
        # slices
        try:
            if champion_error:
                raise champion_error
            theirs = slice_scores(champion, X, y, slice_by, metric)
            ours = slice_scores(candidate, X, y, slice_by, metric)
            drops = {key: theirs[key] - ours[key] for key in theirs if key in ours}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored for both"))
            else:
                worst = float(max(drops.values()))
                regressed = {k: d for k, d in drops.items() if d > slice_tolerance}
                text = ", ".join(f"{k} (drop {d:.4f})" for k, d in regressed.items())
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f}, tolerance {slice_tolerance}; "
                                    f"regressed: {text or 'none'}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("slices", slice_tolerance, error))
        # signature
        try:
            problems = signature_problems(_inputs(champion_uri), _inputs(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("signature", 0, error))
    # size
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=folder))
            size = sum(path.stat().st_size for path in local.rglob("*") if path.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, error))
    # latency
    try:
        measure = measure_latency or _default_latency
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, error))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate did not pass; failed checks: {', '.join(failed) or 'none ran'}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion!r}, "
                           f"but champion is now {current!r}: gate again")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
