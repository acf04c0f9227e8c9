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

import math
import numbers
import shutil
import tempfile
import timeit
import os

import numpy as np
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn import metrics as skm

_SCORERS = {
    "roc_auc": lambda m, X, y: skm.roc_auc_score(y, m.predict_proba(X)[:, 1]),
    "accuracy": lambda m, X, y: skm.accuracy_score(y, m.predict(X)),
}
_NO_CHAMPION = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def _labels(X, y, metric):
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    labels = np.array(list(y) if not hasattr(y, "__array__") else y)
    if X.shape[0] == 0 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {X.shape[0]} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    column = X[slice_by]  # KeyError when missing
    if column.isna().to_numpy().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    groups = X.reset_index(drop=True).groupby(slice_by, observed=True, sort=False).indices
    out = {}
    for value, positions in groups.items():
        part = labels[positions]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[value.item() if hasattr(value, "item") else value] = score(model, X.iloc[positions], part, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(col):
        a, b = champion.get(col), candidate.get(col)
        if col not in candidate:
            return f"column {col!r} ({a}) is missing from the candidate"
        if col not in champion:
            return f"column {col!r} ({b}) is new in the candidate"
        return None if a == b else f"column {col!r} changed type: {a} in the champion, {b} in the candidate"
    return [p for p in map(problem, sorted(champion.keys() | candidate.keys())) if p]


def _real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) and isinstance(x, (int, float))


def _alias(client, name):
    try:
        return client.get_model_version_by_alias(name, CHAMPION).version
    except MlflowException as err:
        if err.error_code in _NO_CHAMPION:
            return None
        raise


def _input_types(uri):
    signature = mlflow.models.get_model_info(uri).signature
    if signature is None:
        raise ValueError("the model was logged without a signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _folder_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _dirs, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _timeit_latency(model, row):
    model.predict(row)
    n = 10
    return timeit.timeit(lambda: model.predict(row), number=n) / n


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}")
    if not all(_real(v) and math.isfinite(v) and v >= 0 for v in (margin, slice_tolerance)):
        raise ValueError("margin and slice_tolerance must be finite numbers >= 0")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes < 1:
        raise ValueError("max_size_bytes must be a positive int")
    if not (_real(max_latency_ms) and math.isfinite(max_latency_ms) and max_latency_ms > 0):
        raise ValueError("max_latency_ms must be a positive finite number")
    labels = _labels(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    version = _alias(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"{model_name!r} has no champion")
    version = None if version is None else str(version)
    try:
        cand = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as err:
        raise LookupError(f"{candidate_uri}: {err}") from err

    champ_uri = f"models:/{model_name}/{version}"
    cache = {}

    def champ():
        if "m" not in cache:
            cache["m"] = mlflow.sklearn.load_model(champ_uri)
        return cache["m"]

    def metric_check():
        value = score(cand, X, labels, metric)
        limit = score(champ(), X, labels, metric) + margin
        return value > limit, value, float(limit), f"{metric}: candidate {value:.4f}, champion+margin {limit:.4f}"

    def slices_check():
        new = slice_scores(cand, X, labels, slice_by, metric)
        old = slice_scores(champ(), X, labels, slice_by, metric)
        drops = {k: old[k] - new[k] for k in new.keys() & old.keys()}
        tol = float(slice_tolerance)
        if not drops:
            return True, None, tol, "no slice to compare"
        worst = max(drops.values())
        names = sorted((str(k) for k, d in drops.items() if d > tol))
        detail = "; ".join(f"{k}: {old[k]:.4f} -> {new[k]:.4f}" for k in drops if drops[k] > tol)
        return worst <= tol, float(worst), tol, f"worst drop {worst:.4f} > {tol}? regressed: {names} {detail}"

    def signature_check():
        problems = signature_problems(_input_types(champ_uri), _input_types(candidate_uri))
        return not problems, len(problems), 0, "; ".join(problems) or "0 problems"

    def size_check():
        tmp = tempfile.mkdtemp()
        try:
            size = _folder_size(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return size <= max_size_bytes, size, max_size_bytes, f"{size} bytes of {max_size_bytes}"

    def latency_check():
        ms = float((measure_latency or _timeit_latency)(cand, X.iloc[[0]])) * 1000
        return ms <= max_latency_ms, ms, float(max_latency_ms), f"{ms} ms of {max_latency_ms} ms"

    limits = {"metric": None, "slices": float(slice_tolerance), "signature": 0,
              "size": max_size_bytes, "latency": float(max_latency_ms)}
    plan = [("size", size_check), ("latency", latency_check)]
    if version is not None:
        plan = [("metric", metric_check), ("slices", slices_check), ("signature", signature_check)] + plan
    results = {} if version is not None else {n: Check(n, True, None, None, "first deploy") for n in CHECKS[:3]}
    for name, fn in plan:
        try:
            ok, value, limit, message = fn()
            results[name] = Check(name, bool(ok), value, limit, message)
        except Exception as err:  # noqa: BLE001
            results[name] = Check(name, False, None, limits[name], f"{name} failed: {type(err).__name__}: {err}")
    return GateReport(candidate_uri, version, [results[n] for n in CHECKS])


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        raise ValueError("gate failed: " + ", ".join(c.name for c in report.checks if not c.passed))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    serving = _alias(client, model_name)
    serving = None if serving is None else str(serving)
    if serving != report.champion:
        raise RuntimeError(f"champion moved: {report.champion} -> {serving}")
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if serving:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
