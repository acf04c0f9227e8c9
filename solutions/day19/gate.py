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


# --- task 1: scores on held-out rows ---------------------------------------------------


def _check_rows(X: pd.DataFrame, y) -> np.ndarray:
    y = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no held-out rows to score on")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    return y


def _metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")


def _score(model, X: pd.DataFrame, y: np.ndarray, metric: str) -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given: "roc_auc" from `predict_proba(X)[:, 1]`, or "accuracy"
    from `predict(X)`. Labels are matched to rows by position. An unknown metric, no rows, or a
    number of labels different from the number of rows raises ValueError."""
    _metric(metric)
    return _score(model, X, _check_rows(X, y), metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`, each scored on its own
    rows only. A slice where the metric is undefined (ROC AUC with one class) is left out. A missing
    column raises KeyError; a missing value in it ValueError; otherwise as `score`."""
    _metric(metric)
    y = _check_rows(X, y)
    if slice_by not in X.columns:
        raise KeyError(f"slice column {slice_by!r} is not in the held-out rows")
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"slice column {slice_by!r} has missing values: every row must belong to a slice")
    scores = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(y[rows])) < 2:
            continue  # AUC is undefined on a slice holding one class
        key = value.item() if isinstance(value, np.generic) else value  # json.dumps refuses NumPy keys
        scores[key] = _score(model, X[rows], y[rows], metric)
    return scores


# --- task 2: signatures -----------------------------------------------------------------


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that is missing from the candidate, new in it, or of another type;
    each names its column (a type change names both types). Sorted by column; [] = compatible."""
    problems = []
    for column in sorted(set(champion) | set(candidate)):
        if column not in candidate:
            problems.append(f"column {column!r} ({champion[column]}) is missing from the candidate")
        elif column not in champion:
            problems.append(f"column {column!r} ({candidate[column]}) is new in the candidate; "
                            "callers of the champion do not send it")
        elif champion[column] != candidate[column]:
            problems.append(f"column {column!r} changed type: {champion[column]} in the champion, "
                            f"{candidate[column]} in the candidate")
    return problems


# --- task 3: the gate -------------------------------------------------------------------


def _number(name: str, value, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'at least 0'}, not {value!r}")


def _client(tracking_uri: str):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


# What MLflow answers for a model never registered (RESOURCE_DOES_NOT_EXIST) or an alias it does not
# have (INVALID_PARAMETER_VALUE). Any other MlflowException (INTERNAL_ERROR for a registry it cannot
# reach, TEMPORARILY_UNAVAILABLE, ...) is an outage and propagates.
NO_SUCH_ALIAS = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _champion_version(client, model_name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in NO_SUCH_ALIAS:
            return None
        raise


def _columns(model_uri: str) -> dict[str, str] | None:
    import mlflow

    signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _artifact_bytes(model_uri: str) -> int:
    import mlflow

    with tempfile.TemporaryDirectory() as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch))
        return sum(path.stat().st_size for path in local.rglob("*") if path.is_file())


def default_latency(model, row: pd.DataFrame) -> float:
    """Seconds for one `predict` of one row: the median of five calls after a warm-up."""
    model.predict(row)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _failed(name: str, limit, error: Exception) -> Check:
    return Check(name, False, None, limit, f"{name} could not be measured: {type(error).__name__}: {error}")


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

    _metric(metric)
    _number("margin", margin, positive=False)
    _number("slice_tolerance", slice_tolerance, positive=False)
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    _number("max_latency_ms", max_latency_ms, positive=True)
    y = _check_rows(X, y)
    if slice_by not in X.columns:
        raise KeyError(f"slice column {slice_by!r} is not in the held-out rows")
    measure = measure_latency or default_latency

    client = _client(tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"{model_name!r} has no {CHAMPION!r} alias to judge the candidate against; "
                          "pass first_deploy=True if this is the first deployment")
    try:
        candidate_model = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as exc:
        raise LookupError(f"candidate {candidate_uri!r} cannot be loaded: {exc}") from exc

    checks: list[Check] = []
    if champion is None:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, f"no champion yet (first deploy): {name} not compared"))
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            champion_model = mlflow.sklearn.load_model(champion_uri)
        except Exception as exc:  # noqa: BLE001 - a champion that cannot be loaded is a finding, not a crash
            checks.append(_failed("metric", None, exc))
            checks.append(_failed("slices", slice_tolerance, exc))
        else:
            checks.append(_metric_check(champion_model, candidate_model, X, y, metric, margin))
            checks.append(_slice_check(champion_model, candidate_model, X, y, slice_by, metric, slice_tolerance))
        checks.append(_signature_check(champion_uri, candidate_uri))
    checks.append(_size_check(candidate_uri, max_size_bytes))
    checks.append(_latency_check(measure, candidate_model, X.iloc[[0]], max_latency_ms))
    return GateReport(candidate_uri, champion, checks)


def _metric_check(champion_model, candidate_model, X, y, metric, margin) -> Check:
    try:
        old = _score(champion_model, X, y, metric)
        limit = old + margin
    except Exception as exc:  # noqa: BLE001 - the champion failing is a finding, not a crash
        return _failed("metric", None, exc)
    try:
        new = _score(candidate_model, X, y, metric)
    except Exception as exc:  # noqa: BLE001
        return _failed("metric", limit, exc)
    return Check("metric", bool(new > limit), new, limit,
                 f"{metric}: candidate {new:.4f}, champion {old:.4f}, needs more than {limit:.4f} (margin {margin})")


def _slice_check(champion_model, candidate_model, X, y, slice_by, metric, tolerance) -> Check:
    try:
        old = slice_scores(champion_model, X, y, slice_by, metric)
        new = slice_scores(candidate_model, X, y, slice_by, metric)
    except Exception as exc:  # noqa: BLE001
        return _failed("slices", tolerance, exc)
    drops = {value: old[value] - new[value] for value in old if value in new}
    if not drops:
        return Check("slices", True, None, tolerance, f"no slice of {slice_by!r} could be scored")
    worst = max(drops.values())
    regressed = {value: drop for value, drop in drops.items() if drop > tolerance}
    if regressed:
        listed = ", ".join(f"{slice_by}={value}: {old[value]:.4f} -> {new[value]:.4f} (-{drop:.4f})"
                           for value, drop in sorted(regressed.items(), key=lambda item: -item[1]))
        message = f"slices regressed by more than {tolerance}: {listed}"
    else:
        message = f"worst slice drop {worst:.4f} is within {tolerance}"
    return Check("slices", not regressed, worst, tolerance, message)


def _signature_check(champion_uri: str, candidate_uri: str) -> Check:
    try:
        old, new = _columns(champion_uri), _columns(candidate_uri)
    except Exception as exc:  # noqa: BLE001
        return _failed("signature", 0, exc)
    if old is None or new is None:
        which = "champion" if old is None else "candidate"
        return Check("signature", False, None, 0, f"the {which} was logged without a signature")
    problems = signature_problems(old, new)
    return Check("signature", not problems, len(problems), 0,
                 "; ".join(problems) if problems else "same input columns and types")


def _size_check(candidate_uri: str, budget: int) -> Check:
    try:
        size = _artifact_bytes(candidate_uri)
    except Exception as exc:  # noqa: BLE001
        return _failed("size", budget, exc)
    return Check("size", size <= budget, size, budget, f"model artifacts {size} bytes, budget {budget}")


def _latency_check(measure, model, row: pd.DataFrame, budget_ms: float) -> Check:
    try:
        latency_ms = float(measure(model, row)) * 1000.0
    except Exception as exc:  # noqa: BLE001
        return _failed("latency", budget_ms, exc)
    return Check("latency", bool(latency_ms <= budget_ms), latency_ms, budget_ms,
                 f"single-row latency {latency_ms:.3f} ms, budget {budget_ms} ms")


# --- task 4: promotion ------------------------------------------------------------------


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register the report's candidate as a new version of `model_name`, point `previous-champion`
    at the version it replaces (if any) and `champion` at it; return the new version. A report that
    did not pass raises ValueError; one judged against another champion than the current RuntimeError."""
    import mlflow

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed] or ["(no checks ran)"]
        raise ValueError(f"{report.candidate} did not pass the gate: {', '.join(failed)} failed")
    client = _client(tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"the champion of {model_name!r} is {current!r}, not {report.champion!r} as when "
                           "the gate ran: another promotion happened since; run the gate again")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        # Record the rollback target before moving the champion, so it is never lost.
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
