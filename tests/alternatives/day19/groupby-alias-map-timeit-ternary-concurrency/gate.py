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
import os
import tempfile
import timeit

import mlflow
import mlflow.exceptions
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

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
    "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
}


def _prepared(X, y, metric):
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    labels = pd.Series(list(y) if not hasattr(y, "__array__") else np.asarray(y)).to_numpy()
    if X.shape[0] == 0 or labels.shape[0] != X.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {X.shape[0]} rows (need at least one, one label each)")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given."""
    labels = _prepared(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`."""
    labels = _prepared(X, y, metric)
    keys = X[slice_by]  # KeyError when it is not a column
    if keys.isna().to_numpy().any():
        raise ValueError(f"rows without a {slice_by!r} value")
    positions = pd.RangeIndex(len(X))
    out = {}
    for value, where in positions.to_series().groupby(keys.to_numpy(), sort=False):
        idx = where.to_numpy()
        part = labels[idx]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[value.item() if isinstance(value, np.generic) else value] = score(model, X.iloc[idx], part, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that differs, sorted by column."""
    def about(column):
        old, new = champion.get(column), candidate.get(column)
        if new is None:
            return f"{column}: missing from the candidate (the champion takes {old})"
        if old is None:
            return f"{column}: new in the candidate ({new}); the champion's callers do not send it"
        if old != new:
            return f"{column}: type {old} in the champion but {new} in the candidate"
        return None

    return [m for m in map(about, sorted({*champion, *candidate})) if m is not None]


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0: {value!r}")
    return float(value)  # a NumPy float (np.float32) as the plain float it holds


def _registry_client(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri, tracking_uri)


def _serving_version(client, name):
    try:
        aliases = client.get_registered_model(name).aliases
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        return None
    version = aliases.get(CHAMPION)
    return None if version is None else str(version)


def _timed_predict(model, row):
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(1)
    return min(timer.repeat(repeat=3, number=3)) / 3


def _guard(name, limit, compute):
    try:
        return compute()
    except Exception as exc:  # noqa: BLE001 - any failure is this check's failure
        return Check(name, False, None, limit, f"could not compute {name}: {exc!r}")


def _inputs(uri):
    signature = mlflow.models.get_model_info(uri).signature
    if signature is None:
        raise ValueError(f"{uri} was logged without a signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _artifact_bytes(uri):
    with tempfile.TemporaryDirectory() as scratch:
        root = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    """The five checks of a candidate against the version `champion` points at."""
    labels = _prepared(X, y, metric)
    margin = _non_negative("margin", margin)
    slice_tolerance = _non_negative("slice_tolerance", slice_tolerance)
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes must be a positive int: {max_size_bytes!r}")
    max_latency_ms = _non_negative("max_latency_ms", max_latency_ms)
    if max_latency_ms == 0:
        raise ValueError("max_latency_ms must be positive")
    if slice_by not in X:
        raise KeyError(slice_by)

    client = _registry_client(tracking_uri)
    serving = _serving_version(client, model_name)
    if serving is None and not first_deploy:
        raise LookupError(f"{model_name} has no champion alias (pass first_deploy=True for the first one)")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as exc:
        raise LookupError(f"{candidate_uri} resolves to no model: {exc}") from exc

    if serving is None:
        compared = [Check(n, True, None, None, "first deploy: no champion to compare with")
                    for n in ("metric", "slices", "signature")]
    else:
        served_uri = f"models:/{model_name}/{serving}"
        incumbent = _load_champion(served_uri)

        def metric_check():
            mine = score(candidate, X, labels, metric)
            limit = score(incumbent, X, labels, metric) + margin
            return Check("metric", bool(mine > limit), mine, limit, f"{metric}: candidate {mine:.4f}, needs more than {limit:.4f}")

        def slices_check():
            old = slice_scores(incumbent, X, labels, slice_by, metric)
            new = slice_scores(candidate, X, labels, slice_by, metric)
            drops = pd.Series({k: old[k] - new[k] for k in old.keys() & new.keys()}, dtype=float)
            if drops.empty:
                return Check("slices", True, None, slice_tolerance, "no slice scored for both models")
            bad = drops[drops > slice_tolerance]
            worst = float(drops.max())
            text = "; ".join(f"{k} dropped {v:.4f}" for k, v in bad.items()) or "no slice regressed"
            return Check("slices", bad.empty, worst, slice_tolerance,
                         f"worst drop {worst:.4f} vs tolerance {slice_tolerance}: {text}")

        def signature_check():
            problems = signature_problems(_inputs(served_uri), _inputs(candidate_uri))
            return Check("signature", len(problems) == 0, len(problems), 0, "\n".join(problems) or "compatible")

        compared = [_guard("metric", None, metric_check), _guard("slices", slice_tolerance, slices_check),
                    _guard("signature", 0, signature_check)]

    def size_check():
        size = _artifact_bytes(candidate_uri)
        return Check("size", size <= max_size_bytes, size, max_size_bytes, f"{size} of {max_size_bytes} bytes")

    def latency_check():
        measure = measure_latency if measure_latency is not None else _timed_predict
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        return Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms, f"{ms:.3f} ms of {max_latency_ms} ms")

    return GateReport(candidate_uri, serving, [*compared, _guard("size", max_size_bytes, size_check),
                                               _guard("latency", max_latency_ms, latency_check)])


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register a passing candidate and move the aliases."""
    if not report.passed:
        raise ValueError("refused: " + (", ".join(c.name for c in report.checks if not c.passed) or "no checks"))
    client = _registry_client(tracking_uri)
    serving = _serving_version(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"champion is {serving}, the report was judged against {report.champion}")
    new = mlflow.register_model(report.candidate, model_name)
    if serving is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new.version)
    return str(new.version)


class _Unloadable:
    """A champion mlflow.sklearn cannot load (logged with another flavor, say): using it raises that error,
    so the checks that need it fail with it instead of the gate."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name):
        raise self.error


def _load_champion(uri: str):
    import mlflow

    try:
        return mlflow.sklearn.load_model(uri)
    except Exception as exc:  # noqa: BLE001 - a champion that cannot be loaded fails the checks, not the gate
        return _Unloadable(exc)
