"""Day 19 gate: function style."""

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
NO_CHAMPION_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


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


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    _validate(X, y, metric)
    y = np.asarray(y)
    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    _validate(X, y, metric)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has rows without a value")
    y = np.asarray(y)
    out = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(y[rows])) < 2:
            continue
        key = int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
        key = bool(key) if isinstance(key, np.bool_) else key  # nor is a NumPy bool
        out[key] = score(model, X[rows], y[rows], metric)
    return out


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
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_options(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, int) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code in NO_CHAMPION_CODES:
            return None
        raise


def _columns(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row) -> float:
    model.predict(row)  # warm-up
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _failed(name, limit, error):
    return Check(name, False, None, limit, f"could not be computed: {type(error).__name__}: {error}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    from mlflow.exceptions import MlflowException

    _check_options(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms)
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    y = np.asarray(y)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no champion alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri!r}: {error}") from error
    checks = []
    if champion is None:
        checks.append(Check("metric", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"))
        checks.append(Check("signature", True, None, 0, "first deploy: no champion to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            old = mlflow.sklearn.load_model(champion_uri)
            old_error = None
        except Exception as error:  # noqa: BLE001
            old, old_error = None, error
        try:
            if old_error:
                raise old_error
            value = score(candidate, X, y, metric)
            limit = score(old, X, y, metric) + margin
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"candidate {metric} {value:.4f} vs champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("metric", None, error))
        try:
            if old_error:
                raise old_error
            new_s = slice_scores(candidate, X, y, slice_by, metric)
            old_s = slice_scores(old, X, y, slice_by, metric)
            drops = {k: old_s[k] - new_s[k] for k in old_s if k in new_s}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored"))
            else:
                worst = max(drops.values())
                bad = [f"{k} ({old_s[k]:.4f} -> {new_s[k]:.4f})" for k, d in drops.items() if d > slice_tolerance]
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f} vs tolerance {slice_tolerance}; regressed: "
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
                                    f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("signature", 0, error))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes vs budget {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, error))
    try:
        measure = measure_latency or _default_latency
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms vs budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, error))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError(f"the gate did not pass: failed checks {failed or 'none (no checks)'}")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"champion is {current!r} now, the report was judged against {report.champion!r}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
