"""Day 19 gate: functional style, close to the README's hints."""

from __future__ import annotations

import math
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
        raise ValueError(f"unknown metric {metric!r}")
    y = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows")
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    y = _validate(X, y, metric)
    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _validate(X, y, metric)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"missing values in {slice_by!r}")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(y[rows])) < 2:
            continue
        result[value.item() if isinstance(value, (np.integer, np.bool_)) else value] = score(model, X[rows], y[rows], metric)
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


def _number(value, name, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} out of range: {value!r}")


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


def _default_latency(model, row):
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow.exceptions import MlflowException

    y = _validate(X, y, metric)
    _number(margin, "margin")
    _number(slice_tolerance, "slice_tolerance")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    _number(max_latency_ms, "max_latency_ms", positive=True)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = _champion_version(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri}: {error}") from error

    checks = []
    if version is not None:
        champion_uri = f"models:/{model_name}/{version}"
        try:
            champion = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:  # noqa: BLE001
            champion, champion_error = None, error
        # metric
        try:
            if champion is None:
                raise champion_error
            value = score(candidate, X, y, metric)
            limit = score(champion, X, y, metric) + margin
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"{metric} {value:.4f} vs champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("metric", False, None, None, f"could not score: {error}"))
        # slices
        try:
            if champion is None:
                raise champion_error
            new = slice_scores(candidate, X, y, slice_by, metric)
            old = slice_scores(champion, X, y, slice_by, metric)
            drops = {key: old[key] - new[key] for key in old if key in new}
            worst = max(drops.values()) if drops else None
            regressed = [f"{key} ({old[key]:.4f} -> {new[key]:.4f})" for key, d in drops.items()
                         if d > slice_tolerance]
            checks.append(Check("slices", bool(worst is None or worst <= slice_tolerance), worst, slice_tolerance,
                                f"worst drop {worst} (tolerance {slice_tolerance}); regressed: {regressed}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("slices", False, None, slice_tolerance, f"could not score slices: {error}"))
        # signature
        try:
            problems = signature_problems(_columns(champion_uri), _columns(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"signature unknown: {error}"))
    else:
        checks += [Check("metric", True, None, None, "first deploy: nothing to compare with"),
                   Check("slices", True, None, slice_tolerance, "first deploy: nothing to compare with"),
                   Check("signature", True, None, 0, "first deploy: nothing to compare with")]
    # size
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not measure size: {error}"))
    # latency
    try:
        measure = measure_latency or _default_latency
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("latency", False, None, max_latency_ms, f"could not measure latency: {error}"))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed] or ["no checks"]
        raise ValueError(f"the gate did not pass: {', '.join(failed)}")
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
