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
import numbers
import os
import tempfile
import timeit
from dataclasses import dataclass
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


def _auc(model, X, y):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, model.predict_proba(X)[:, 1])


def _accuracy(model, X, y):
    from sklearn.metrics import accuracy_score

    return accuracy_score(y, model.predict(X))


SCORERS = {"roc_auc": _auc, "accuracy": _accuracy}


def _scorer(metric):
    try:
        return SCORERS[metric]
    except (KeyError, TypeError):
        raise ValueError(f"metric must be one of {sorted(SCORERS)}, not {metric!r}") from None


def _positional(X, y) -> pd.Series:
    labels = pd.Series(list(y) if not hasattr(y, "__len__") else y).reset_index(drop=True) \
        if not isinstance(y, pd.Series) else y.reset_index(drop=True)
    if X.shape[0] == 0:
        raise ValueError("X holds no rows")
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels do not match {X.shape[0]} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given: "roc_auc" from `predict_proba(X)[:, 1]`, or "accuracy"
    from `predict(X)`. Labels are matched to rows by position. An unknown metric, no rows, or a
    number of labels different from the number of rows raises ValueError."""
    scorer = _scorer(metric)
    labels = _positional(X, y)
    return float(scorer(model, X, labels.to_numpy()))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`, each scored on its own
    rows only. A slice where the metric is undefined (ROC AUC with one class) is left out. A missing
    column raises KeyError; a missing value in it ValueError; otherwise as `score`."""
    _scorer(metric)
    labels = _positional(X, y).to_numpy()
    column = X[slice_by]  # KeyError when it is not a column
    if column.isna().any():
        raise ValueError(f"{int(column.isna().sum())} rows have no {slice_by!r} value")
    result = {}
    for value, positions in X.groupby(slice_by, sort=False).indices.items():
        part = labels[positions]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue  # ROC AUC needs both classes
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)  # a NumPy integer is no JSON key
        elif isinstance(value, np.bool_):
            value = bool(value)  # nor a NumPy bool
        result[value] = score(model, X.iloc[positions], part, metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that is missing from the candidate, new in it, or of another type;
    each names its column (a type change names both types). Sorted by column; [] = compatible."""
    found = {}
    for column, kind in champion.items():
        if column not in candidate:
            found[column] = f"{column}: the candidate lacks this {kind} column"
        elif candidate[column] != kind:
            found[column] = f"{column}: type {kind} became {candidate[column]}"
    for column, kind in candidate.items():
        if column not in champion:
            found[column] = f"{column}: a {kind} column the champion's callers never send"
    return [found[column] for column in sorted(found)]


class _Options:
    def __init__(self, metric, margin, slice_tolerance, max_size_bytes, max_latency_ms):
        _scorer(metric)
        for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name}={value!r}: give a finite number >= 0")
        if type(max_size_bytes) is not int or max_size_bytes < 1:
            raise ValueError(f"max_size_bytes={max_size_bytes!r}: give a positive int")
        if isinstance(max_latency_ms, bool) or not isinstance(max_latency_ms, numbers.Real) \
                or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
            raise ValueError(f"max_latency_ms={max_latency_ms!r}: give a positive finite number")


def _time_one_call(model, row) -> float:
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(1)  # warm-up
    runs = 10
    return timer.timeit(runs) / runs


def _folder_bytes(folder) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


def _inputs(mlflow, uri):
    info = mlflow.models.get_model_info(uri)
    if info.signature is None:
        return None
    return {spec.name: spec.type.name for spec in info.signature.inputs.inputs}


def _guard(name, limit, compute):
    try:
        return compute()
    except Exception as exc:  # noqa: BLE001 - the gate reports, it does not crash
        return Check(name, False, None, limit, f"could not compute {name}: {exc!r}")


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

    _Options(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms)
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    labels = _positional(X, y).to_numpy()
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r} to slice by")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        aliases = {}
    champion = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    if champion is None and not first_deploy:
        raise LookupError(f"{model_name!r} has no champion alias; pass first_deploy=True for its first model")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as exc:  # noqa: BLE001
        raise LookupError(f"cannot load a model from {candidate_uri!r}: {exc}") from exc

    if champion is None:
        compared = [Check(name, True, None, None, "first deploy: no champion to compare with")
                    for name in ("metric", "slices", "signature")]
    else:
        old_uri = f"models:/{model_name}/{champion}"
        loaded = {}

        def old():
            if "model" not in loaded:
                loaded["model"] = mlflow.sklearn.load_model(old_uri)
            return loaded["model"]

        def metric_check():
            limit = score(old(), X, labels, metric) + margin
            value = score(candidate, X, labels, metric)
            return Check("metric", bool(value > limit), value, limit,
                         f"candidate {metric} {value:.4f} vs required {limit:.4f} (champion + {margin})")

        def slices_check():
            mine = slice_scores(old(), X, labels, slice_by, metric)
            new = slice_scores(candidate, X, labels, slice_by, metric)
            drop = pd.Series({key: mine[key] - new[key] for key in mine.keys() & new.keys()}, dtype=float)
            if drop.empty:
                return Check("slices", True, None, slice_tolerance, "no slice could be compared")
            worst = float(drop.max())
            bad = drop[drop > slice_tolerance]
            names = ", ".join(f"{key}: -{value:.4f}" for key, value in bad.items())
            return Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                         f"worst slice drop {worst:.4f}, tolerance {slice_tolerance}"
                         + (f"; regressed: {names}" if names else ""))

        def signature_check():
            theirs, ours = _inputs(mlflow, old_uri), _inputs(mlflow, candidate_uri)
            if theirs is None or ours is None:
                return Check("signature", False, None, 0, "no signature logged: the contract cannot be checked")
            problems = signature_problems(theirs, ours)
            return Check("signature", len(problems) == 0, len(problems), 0,
                         f"{len(problems)} incompatibilities" + "".join(f"\n- {p}" for p in problems))

        compared = [_guard("metric", None, metric_check), _guard("slices", slice_tolerance, slices_check),
                    _guard("signature", 0, signature_check)]

    def size_check():
        with tempfile.TemporaryDirectory() as scratch:
            size = _folder_bytes(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
        return Check("size", size <= max_size_bytes, size, max_size_bytes, f"{size} B (budget {max_size_bytes} B)")

    def latency_check():
        ms = float((measure_latency or _time_one_call)(candidate, X.iloc[[0]])) * 1000
        return Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms, f"{ms:.3f} ms (budget {max_latency_ms} ms)")

    return GateReport(candidate_uri, champion,
                      [*compared, _guard("size", max_size_bytes, size_check),
                       _guard("latency", max_latency_ms, latency_check)])


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register the report's candidate as a new version of `model_name`, point `previous-champion`
    at the version it replaces (if any) and `champion` at it; return the new version. A report that
    did not pass raises ValueError; one judged against another champion than the current RuntimeError."""
    import mlflow
    from mlflow.exceptions import MlflowException

    failed = [check.name for check in report.checks if not check.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: failed checks: {', '.join(failed) or '(no checks ran)'}")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        serving = client.get_registered_model(model_name).aliases.get(CHAMPION)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        serving = None
    serving = None if serving is None else str(serving)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if serving is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
