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

import math
import numbers
import tempfile
import time
from pathlib import Path

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



def _check_xy(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if len(X) == 0:
        raise ValueError("no rows")
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score
    y = _check_xy(X, y, metric)
    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _check_xy(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"missing values in {slice_by!r}")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        y_slice = y[rows]
        if metric == "roc_auc" and len(np.unique(y_slice)) < 2:
            continue
        key = value.item() if isinstance(value, np.generic) else value
        result[key] = score(model, X[rows], y_slice, metric)
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


def _number(name, value, *, allow_zero=True):
    if isinstance(value, bool) or isinstance(value, np.bool_):
        raise ValueError(f"{name} must be a number, not a bool")
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} out of range: {value}")
    return value


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
        raise ValueError(f"model {uri} was logged without a signature")
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
    return float(np.median(times))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _number("margin", margin)
    slice_tolerance = _number("slice_tolerance", slice_tolerance)
    if isinstance(max_size_bytes, (bool, np.bool_)) or not isinstance(max_size_bytes, (int, np.integer)) \
            or max_size_bytes <= 0:
        raise ValueError("max_size_bytes must be a positive int")
    max_size_bytes = int(max_size_bytes)
    max_latency_ms = _number("max_latency_ms", max_latency_ms, allow_zero=False)
    y = _check_xy(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as error:
        raise LookupError(f"no model at {candidate_uri}: {error}") from error

    checks = []
    if champion is not None:
        champion_uri = f"models:/{model_name}/{champion}"
        champion_model = None
        try:
            champion_model = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:
            load_error = error
        # metric
        limit = None
        try:
            if champion_model is None:
                raise load_error
            limit = score(champion_model, X, y, metric) + margin
            value = score(candidate, X, y, metric)
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"{metric} {value:.4f} vs champion + margin {limit:.4f}"))
        except Exception as error:
            checks.append(_failed("metric", limit, error))
        # slices
        try:
            if champion_model is None:
                raise load_error
            old = slice_scores(champion_model, X, y, slice_by, metric)
            new = slice_scores(candidate, X, y, slice_by, metric)
            drops = {s: old[s] - new[s] for s in old if s in new}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored for both"))
            else:
                worst = float(max(drops.values()))
                bad = {s: d for s, d in drops.items() if d > slice_tolerance}
                msg = f"worst slice drop {worst:.4f} (tolerance {slice_tolerance})"
                if bad:
                    msg += "; regressed: " + ", ".join(f"{s}: {old[s]:.4f} -> {new[s]:.4f} (-{d:.4f})"
                                                      for s, d in bad.items())
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance, msg))
        except Exception as error:
            checks.append(_failed("slices", slice_tolerance, error))
        # signature
        try:
            problems = signature_problems(_columns(champion_uri), _columns(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problem(s)" + ("".join("; " + p for p in problems))))
        except Exception as error:
            checks.append(_failed("signature", 0, error))
    else:
        checks.append(Check("metric", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("signature", True, None, None, "first deploy: no champion to compare with"))

    # size
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            root = Path(local)
            size = root.stat().st_size if root.is_file() else \
                sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        checks.append(Check("size", bool(size <= max_size_bytes), int(size), max_size_bytes,
                            f"{size} bytes (budget {max_size_bytes})"))
    except Exception as error:
        checks.append(_failed("size", max_size_bytes, error))

    # latency
    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        ok = bool(not math.isnan(ms) and ms <= max_latency_ms)
        checks.append(Check("latency", ok, ms, max_latency_ms, f"{ms:.3f} ms (budget {max_latency_ms} ms)"))
    except Exception as error:
        checks.append(_failed("latency", max_latency_ms, error))

    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError(f"the gate did not pass: {', '.join(failed) or 'no checks'}")
    import mlflow
    from mlflow import MlflowClient
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"champion is now {current}, the report was judged against {report.champion}")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
