"""Day 19 gate: functional style, numpy masks, MlflowClient, TemporaryDirectory."""

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
from sklearn.metrics import accuracy_score, roc_auc_score

METRICS = ("accuracy", "roc_auc")
CHECKS = ("metric", "slices", "signature", "size", "latency")
CHAMPION = "champion"
PREVIOUS = "previous-champion"
NO_SUCH = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


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
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    if len(X) == 0:
        raise ValueError("no rows to score")
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def _score(model, X, labels, metric) -> float:
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _validate(X, y, metric)
    return _score(model, X, labels, metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    integer = pd.api.types.is_integer_dtype(column.dtype)
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        part = labels[rows]
        if metric == "roc_auc" and len(np.unique(part)) < 2:
            continue
        result[int(value) if integer else bool(value) if pd.api.types.is_bool_dtype(column.dtype) else value] = _score(model, X[rows], part, metric)
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


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


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
    if signature is None:
        raise ValueError(f"{uri} was logged without a signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_measure(model, row) -> float:
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
    from mlflow.exceptions import MlflowException

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = _champion_version(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri}: {error}") from error

    checks = []
    if version is None:
        checks += [Check("metric", True, None, None, "first deploy: no champion to compare with"),
                   Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"),
                   Check("signature", True, None, 0, "first deploy: no champion to compare with")]
    else:
        champion_uri = f"models:/{model_name}/{version}"
        try:
            champion = mlflow.sklearn.load_model(champion_uri)
            champion_error = None
        except Exception as error:  # noqa: BLE001
            champion, champion_error = None, error
        try:
            if champion_error:
                raise champion_error
            mine = _score(candidate, X, labels, metric)
            theirs = _score(champion, X, labels, metric)
            limit = theirs + margin
            checks.append(Check("metric", bool(mine > limit), mine, limit,
                                f"candidate {metric} {mine:.4f} vs champion {theirs:.4f} + margin {margin}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("metric", False, None, None, f"could not compute the metric: {error}"))
        try:
            if champion_error:
                raise champion_error
            new = slice_scores(candidate, X, labels, slice_by, metric)
            old = slice_scores(champion, X, labels, slice_by, metric)
            drops = {key: old[key] - new[key] for key in old if key in new}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored"))
            else:
                worst = max(drops.values())
                bad = {k: d for k, d in drops.items() if d > slice_tolerance}
                text = ", ".join(f"{k}: -{d:.4f}" for k, d in bad.items())
                checks.append(Check("slices", bool(worst <= slice_tolerance), float(worst), slice_tolerance,
                                    f"worst drop {worst:.4f}, tolerance {slice_tolerance}; regressed: {text or 'none'}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("slices", False, None, slice_tolerance, f"could not score the slices: {error}"))
        try:
            problems = signature_problems(_columns(champion_uri), _columns(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"could not compare signatures: {error}"))

    try:
        with tempfile.TemporaryDirectory() as folder:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=folder))
            size = sum(path.stat().st_size for path in local.rglob("*") if path.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not measure the size: {error}"))

    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_measure)(candidate, row)
        ms = float(seconds) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("latency", False, None, max_latency_ms, f"could not measure latency: {error}"))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate did not pass: failed {failed}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"champion is {current}, the report was judged against {report.champion}")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
