"""Day 19 gate: procedural style, one try per check, MlflowClient for the registry."""

from __future__ import annotations

import math
import numbers
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
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")


def _score(model, X, y, metric):
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    _validate(X, y, metric)
    return _score(model, X, np.asarray(y), metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    _validate(X, y, metric)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    y = np.asarray(y)
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(y[rows])) < 2:
            continue
        key = value.item() if isinstance(value, (np.integer, np.bool_)) else value
        result[key] = _score(model, X[rows], y[rows], metric)
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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _columns(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        raise ValueError(f"{uri} was logged without a signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


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
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, int) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    y = np.asarray(y)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri}: {error}") from error
    except OSError as error:
        raise LookupError(f"no model at {candidate_uri}: {error}") from error

    checks = []
    if champion is not None:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            old = mlflow.sklearn.load_model(champion_uri)
            load_error = None
        except Exception as error:  # noqa: BLE001
            old, load_error = None, error
        try:
            if load_error is not None:
                raise load_error
            new_score = score(candidate, X, y, metric)
            limit = score(old, X, y, metric) + margin
            checks.append(Check("metric", bool(new_score > limit), new_score, limit,
                                f"{metric} {new_score:.4f} against champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("metric", False, None, None, f"could not compute: {error}"))
        try:
            if load_error is not None:
                raise load_error
            new = slice_scores(candidate, X, y, slice_by, metric)
            base = slice_scores(old, X, y, slice_by, metric)
            drops = {k: base[k] - new[k] for k in base if k in new}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored"))
            else:
                worst = max(drops.values())
                bad = {k: round(v, 4) for k, v in drops.items() if v > slice_tolerance}
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: {bad}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("slices", False, None, slice_tolerance, f"could not compute: {error}"))
        try:
            problems = signature_problems(_columns(champion_uri), _columns(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"could not compare: {error}"))
    else:
        checks.append(Check("metric", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, slice_tolerance, "first deploy"))
        checks.append(Check("signature", True, None, 0, "first deploy"))

    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes against a budget of {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not measure: {error}"))

    try:
        seconds = (measure_latency or _default_measure)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms against a budget of {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("latency", False, None, max_latency_ms, f"could not measure: {error}"))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed] or ["(no checks)"]
        raise ValueError(f"the gate did not pass: {', '.join(failed)}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"the champion is {current}, the report was judged against {report.champion}")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
