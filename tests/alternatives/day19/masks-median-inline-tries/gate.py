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


def _check_metric(metric) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")


def _labels(X, y) -> np.ndarray:
    labels = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows to score")
    if labels.shape[0] != len(X):
        raise ValueError(f"{labels.shape[0]} labels for {len(X)} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given: "roc_auc" from `predict_proba(X)[:, 1]`, or "accuracy"
    from `predict(X)`. Labels are matched to rows by position. An unknown metric, no rows, or a
    number of labels different from the number of rows raises ValueError."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    _check_metric(metric)
    labels = _labels(X, y)
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`, each scored on its own
    rows only. A slice where the metric is undefined (ROC AUC with one class) is left out. A missing
    column raises KeyError; a missing value in it ValueError; otherwise as `score`."""
    _check_metric(metric)
    labels = _labels(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values: every row must belong to a slice")
    integer = column.dtype.kind in "iu"  # Python int keys, not NumPy integers
    out = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(labels[rows])) < 2:
            continue
        out[int(value) if integer else bool(value) if column.dtype.kind == "b" else value] = score(model, X[rows], labels[rows], metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that is missing from the candidate, new in it, or of another type;
    each names its column (a type change names both types). Sorted by column; [] = compatible."""
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
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms, X, y, slice_by):
    _check_metric(metric)
    for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, int) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    labels = _labels(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    return labels


def _columns(client, uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row) -> float:
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _failed(name, limit, exc) -> Check:
    return Check(name, False, None, limit, f"{name} could not be computed: {type(exc).__name__}: {exc}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    """Judge the model at `candidate_uri` against the version `champion` points at, on the held-out
    rows given: the five checks of the README's task 3, all of them, in the order of CHECKS.
    Reads the registry, never writes it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    labels = _validate(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms, X, y, slice_by)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        champion = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        champion = None
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as exc:
        raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

    checks = []
    if champion is None:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, f"{name}: first deploy, nothing to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            old = mlflow.sklearn.load_model(champion_uri)
        except Exception as exc:  # noqa: BLE001
            old, load_error = None, exc
        try:
            if old is None:
                raise load_error
            base = score(old, X, labels, metric)
            limit = base + margin
            value = score(candidate, X, labels, metric)
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"{metric} {value:.4f} against champion {base:.4f} + margin {margin} = {limit:.4f}"))
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("metric", None, exc))
        try:
            if old is None:
                raise load_error
            before = slice_scores(old, X, labels, slice_by, metric)
            after = slice_scores(candidate, X, labels, slice_by, metric)
            drops = {key: before[key] - after[key] for key in before if key in after}
            if drops:
                worst = max(drops.values())
                regressed = [f"{key} ({before[key]:.4f} -> {after[key]:.4f})" for key, d in drops.items()
                             if d > slice_tolerance]
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: "
                                    f"{', '.join(regressed) or 'none'}"))
            else:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice scored for both"))
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("slices", slice_tolerance, exc))
        try:
            mine, theirs = _columns(client, champion_uri), _columns(client, candidate_uri)
            if mine is None or theirs is None:
                checks.append(Check("signature", False, None, 0,
                                    "a model was logged without a signature: its callers' contract is unknown"))
            else:
                problems = signature_problems(mine, theirs)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} problem(s): " + "; ".join(problems)))
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("signature", 0, exc))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(path.stat().st_size for path in local.rglob("*") if path.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes against a budget of {max_size_bytes}"))
    except Exception as exc:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, exc))
    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms for one row against a budget of {max_latency_ms} ms"))
    except Exception as exc:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, exc))
    return GateReport(candidate_uri, champion, checks)


def _alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        return None


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register the report's candidate as a new version of `model_name`, point `previous-champion`
    at the version it replaces (if any) and `champion` at it; return the new version. A report that
    did not pass raises ValueError; one judged against another champion than the current RuntimeError."""
    import mlflow

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate did not pass: failed checks {failed or 'none run'}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _alias(client, model_name, CHAMPION)
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion!r}, "
                           f"but champion is {current!r} now: run the gate again")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
