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
import contextlib
import math
import operator
import os
import tempfile
import timeit
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn import metrics as skm

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


_SCORERS = {
    "roc_auc": lambda model, X, y: skm.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: skm.accuracy_score(y, model.predict(X)),
}


def _prepared(X, y, metric):
    if metric not in _SCORERS or not isinstance(metric, str):
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, got {metric!r}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    labels = y.to_numpy() if isinstance(y, pd.Series) else np.array(list(y) if not hasattr(y, "__len__") else y)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {labels.shape[0]} labels")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given: "roc_auc" from `predict_proba(X)[:, 1]`, or "accuracy"
    from `predict(X)`. Labels are matched to rows by position. An unknown metric, no rows, or a
    number of labels different from the number of rows raises ValueError."""
    labels = _prepared(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`, each scored on its own
    rows only. A slice where the metric is undefined (ROC AUC with one class) is left out. A missing
    column raises KeyError; a missing value in it ValueError; otherwise as `score`."""
    labels = _prepared(X, y, metric)
    column = X[slice_by]  # KeyError when it is not a column
    if pd.isna(column).any():
        raise ValueError(f"{slice_by!r} has rows without a value")
    positions = X.reset_index(drop=True).groupby(column.reset_index(drop=True), sort=False).indices
    out = {}
    for value, where in positions.items():
        part = labels[where]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[operator.index(value) if isinstance(value, np.integer) else bool(value) if isinstance(value, np.bool_) else value] = float(_SCORERS[metric](model, X.iloc[where], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that is missing from the candidate, new in it, or of another type;
    each names its column (a type change names both types). Sorted by column; [] = compatible."""
    found = {}
    for column in champion.keys() - candidate.keys():
        found[column] = f"{column}: missing from the candidate (the champion takes {champion[column]})"
    for column in candidate.keys() - champion.keys():
        found[column] = f"{column}: new in the candidate ({candidate[column]}), callers do not send it"
    for column in champion.keys() & candidate.keys():
        if champion[column] != candidate[column]:
            found[column] = f"{column}: type {champion[column]} -> {candidate[column]}"
    return [found[column] for column in sorted(found)]


@contextlib.contextmanager
def _store(tracking_uri):
    """MLflow's process-wide URIs pointed at `tracking_uri` for a block, then restored."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI"), mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    finally:
        mlflow.set_tracking_uri(before[1])
        mlflow.set_registry_uri(before[2])


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        return None
    version = aliases.get(CHAMPION)
    return None if version is None else str(version)


def _real(value) -> bool:
    return type(value) is not bool and isinstance(value, (int, float, np.integer, np.floating))


def _time_one_prediction(model, row) -> float:
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(number=1)
    return min(timer.repeat(repeat=3, number=10)) / 10


def _inputs(uri):
    from mlflow.models import get_model_info

    signature = get_model_info(uri).signature
    return None if signature is None else {c.name: c.type.name for c in signature.inputs.inputs}


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

    labels = _prepared(X, y, metric)
    for label, value in {"margin": margin, "slice_tolerance": slice_tolerance}.items():
        if not (_real(value) and 0 <= value < math.inf):
            raise ValueError(f"{label} must be a finite number >= 0, not {value!r}")
    if type(max_size_bytes) not in (int, np.int64) or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)  # a NumPy integer is kept as the plain int it holds
    if not (_real(max_latency_ms) and 0 < max_latency_ms < math.inf):
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    if slice_by not in X:
        raise KeyError(f"{slice_by!r} is not a column of X")

    with _store(tracking_uri) as client:
        champion = _champion_version(client, model_name)
        if champion is None and not first_deploy:
            raise LookupError(f"{model_name!r} has no champion alias (pass first_deploy=True for the first one)")
        try:
            candidate = mlflow.sklearn.load_model(candidate_uri)
        except (MlflowException, OSError) as exc:
            raise LookupError(f"{candidate_uri!r} is not a model: {exc}") from exc
        champion_uri = f"models:/{model_name}/{champion}"

        def metric_check():
            old = mlflow.sklearn.load_model(champion_uri)
            new_score = score(candidate, X, labels, metric)
            limit = score(old, X, labels, metric) + margin
            return new_score > limit, new_score, limit, f"{metric} {new_score:.4f} vs champion+margin {limit:.4f}"

        def slices_check():
            old = mlflow.sklearn.load_model(champion_uri)
            mine = slice_scores(candidate, X, labels, slice_by, metric)
            theirs = slice_scores(old, X, labels, slice_by, metric)
            drops = {k: theirs[k] - mine[k] for k in theirs.keys() & mine.keys()}
            if not drops:
                return True, None, slice_tolerance, "no slice scored for both models"
            worst = max(drops.values())
            bad = {k: d for k, d in drops.items() if d > slice_tolerance}
            text = "; ".join(f"{k} dropped {d:.4f}" for k, d in sorted(bad.items(), key=lambda kv: -kv[1]))
            return not bad, worst, slice_tolerance, f"worst drop {worst:.4f}" + (f"; {text}" if text else "")

        def signature_check():
            old, new = _inputs(champion_uri), _inputs(candidate_uri)
            if old is None or new is None:
                return False, None, 0, "no input signature to compare"
            problems = signature_problems(old, new)
            return not problems, len(problems), 0, " | ".join(problems) or "compatible"

        def size_check():
            with tempfile.TemporaryDirectory() as scratch:
                local = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch)
                total = 0
                for root, _dirs, files in os.walk(local):
                    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
            return total <= max_size_bytes, total, max_size_bytes, f"{total} bytes, budget {max_size_bytes}"

        def latency_check():
            seconds = (measure_latency or _time_one_prediction)(candidate, X.iloc[[0]])
            ms = float(seconds) * 1000
            return ms <= max_latency_ms, ms, max_latency_ms, f"{ms:.3f} ms, budget {max_latency_ms} ms"

        limits = {"metric": None, "slices": slice_tolerance, "signature": 0, "size": max_size_bytes,
                  "latency": max_latency_ms}
        plan = {"metric": metric_check, "slices": slices_check, "signature": signature_check,
                "size": size_check, "latency": latency_check}
        checks = []
        for name in CHECKS:
            if champion is None and name in ("metric", "slices", "signature"):
                checks.append(Check(name, True, None, limits[name], "first deploy: no champion to compare with"))
                continue
            try:
                passed, value, limit, message = plan[name]()
            except Exception as exc:  # noqa: BLE001 - a check that cannot be computed fails alone
                checks.append(Check(name, False, None, limits[name], f"{name} failed: {exc!r}"))
            else:
                checks.append(Check(name, bool(passed), value, limit, message))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register the report's candidate as a new version of `model_name`, point `previous-champion`
    at the version it replaces (if any) and `champion` at it; return the new version. A report that
    did not pass raises ValueError; one judged against another champion than the current RuntimeError."""
    import mlflow

    if not report.passed:
        names = ", ".join(c.name for c in report.checks if not c.passed) or "no checks at all"
        raise ValueError(f"refusing to promote {report.candidate}: {names}")
    with _store(tracking_uri) as client:
        serving = _champion_version(client, model_name)
        if serving != report.champion:
            raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
        new = mlflow.register_model(report.candidate, model_name)
        if serving:
            client.set_registered_model_alias(model_name, PREVIOUS, serving)
        client.set_registered_model_alias(model_name, CHAMPION, new.version)
        return str(new.version)
