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


def _validate_rows(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    if len(X) == 0:
        raise ValueError("no rows to score")
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def _score(model, X, labels, metric):
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _validate_rows(X, y, metric)
    return _score(model, X, labels, metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _validate_rows(X, y, metric)
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
        result[bool(value) if isinstance(value, np.bool_) else int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value] = _score(model, X[rows], part, metric)
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


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


def _signature_of(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row):
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _failed(name, limit, error):
    return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE, ErrorCode

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    _non_negative("margin", margin)
    _non_negative("slice_tolerance", slice_tolerance)
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if (isinstance(max_latency_ms, bool) or not isinstance(max_latency_ms, numbers.Real)
            or not math.isfinite(max_latency_ms) or max_latency_ms <= 0):
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    labels = _validate_rows(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    try:
        champion = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code not in (ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)):
            raise
        champion = None
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")

    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri!r}: {error}") from error

    checks = []
    if champion is not None:
        champion_uri = f"models:/{model_name}/{champion}"
        champion_model = None
        try:
            champion_model = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:  # noqa: BLE001
            load_error = error
        # metric
        try:
            if champion_model is None:
                raise load_error
            value = score(candidate, X, labels, metric)
            limit = score(champion_model, X, labels, metric) + margin
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"candidate {metric} {value:.4f} vs champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("metric", None, error))
        # slices
        try:
            if champion_model is None:
                raise load_error
            new = slice_scores(candidate, X, labels, slice_by, metric)
            old = slice_scores(champion_model, X, labels, slice_by, metric)
            drops = {key: old[key] - new[key] for key in old if key in new}
            if drops:
                worst = max(drops.values())
                regressed = {k: d for k, d in drops.items() if d > slice_tolerance}
                message = (f"worst slice drop {worst:.4f} (tolerance {slice_tolerance}); regressed: "
                           + (", ".join(f"{k} by {d:.4f}" for k, d in regressed.items()) or "none"))
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance, message))
            else:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice scored for both models"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("slices", slice_tolerance, error))
        # signature
        try:
            old_sig, new_sig = _signature_of(champion_uri), _signature_of(candidate_uri)
            if old_sig is None or new_sig is None:
                which = "champion" if old_sig is None else "candidate"
                checks.append(Check("signature", False, None, 0, f"the {which} was logged without a signature"))
            else:
                problems = signature_problems(old_sig, new_sig)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} signature problem(s): " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("signature", 0, error))
    else:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, "first deploy: no champion to compare with"))

    # size
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"artifacts {size} bytes, budget {max_size_bytes} bytes"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, error))

    # latency
    try:
        measure = measure_latency or _default_latency
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"one prediction took {ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, error))

    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE, ErrorCode

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed] or ["(no checks)"]
        raise ValueError(f"the gate did not pass: failed {', '.join(failed)}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        current = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code not in (ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)):
            raise
        current = None
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion}, "
                           f"but {model_name!r} champion is now {current}")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
