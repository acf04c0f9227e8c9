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
import numbers
import os
import shutil
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
_NO_CHAMPION = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def _prepare(X, y, metric):
    if not isinstance(metric, str) or metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}: {metric!r}")
    labels = pd.Series(y).to_numpy()
    if X.shape[0] == 0 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"{X.shape[0]} rows and {labels.shape[0]} labels")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _prepare(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _prepare(X, y, metric)
    column = X[slice_by]
    if column.isna().to_numpy().any():
        raise ValueError(f"{slice_by} holds missing values")
    codes, uniques = pd.factorize(column, sort=False)
    out = {}
    for code, value in enumerate(uniques):
        mask = codes == code
        if not mask.any():
            continue
        part = labels[mask]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        out[value] = score(model, X.iloc[np.flatnonzero(mask)], part, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    old, new = dict(champion), dict(candidate)
    found = {}
    for column in old.keys() - new.keys():
        found[column] = f"{column!r}: missing from the candidate (was {old[column]})"
    for column in new.keys() - old.keys():
        found[column] = f"{column!r}: new in the candidate ({new[column]}), the champion's callers do not send it"
    for column in old.keys() & new.keys():
        if old[column] != new[column]:
            found[column] = f"{column!r}: type {old[column]} -> {new[column]}"
    return [found[column] for column in sorted(found)]


def _as_float(name, value, *, allow_zero):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: {value!r} is not a number")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}: {value!r} is out of range")
    return value


def _as_size(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"max_size_bytes: {value!r} is not an int")
    value = int(value)
    if value < 1:
        raise ValueError(f"max_size_bytes: {value} is not positive")
    return value


def _serving_version(client, name):
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code in _NO_CHAMPION:
            return None
        raise
    version = model.aliases.get(CHAMPION)
    return None if version is None else str(version)


def _columns(uri):
    from mlflow.models import get_model_info

    signature = get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        raise LookupError(f"{uri} has no input signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _timed(model, row, number=10):
    model.predict(row)
    return timeit.timeit(lambda: model.predict(row), number=number) / number


def _artifact_bytes(uri):
    from mlflow.artifacts import download_artifacts

    folder = tempfile.mkdtemp(prefix="gate-size-")
    try:
        root = download_artifacts(artifact_uri=uri, dst_path=folder)
        total = 0
        for parent, _, files in os.walk(root):
            total += sum(os.path.getsize(os.path.join(parent, f)) for f in files)
        return total
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    labels = _prepare(X, y, metric)
    margin = _as_float("margin", margin, allow_zero=True)
    slice_tolerance = _as_float("slice_tolerance", slice_tolerance, allow_zero=True)
    max_size_bytes = _as_size(max_size_bytes)
    max_latency_ms = _as_float("max_latency_ms", max_latency_ms, allow_zero=False)
    X[slice_by]  # KeyError before the registry

    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = _serving_version(MlflowClient(tracking_uri, tracking_uri), model_name)
    if version is None and not first_deploy:
        raise LookupError(f"{model_name} has no champion alias (pass first_deploy=True for a first deploy)")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"{candidate_uri} resolves to no model ({error})") from error

    state = {}

    def champion():
        if "model" not in state:
            state["model"] = mlflow.sklearn.load_model(f"models:/{model_name}/{version}")
        return state["model"]

    def metric_check():
        value, base = score(candidate, X, labels, metric), score(champion(), X, labels, metric)
        limit = base + margin
        return value > limit, value, limit, f"{metric}: candidate {value:.5f}, champion {base:.5f} + margin {margin}"

    def slices_check():
        old = slice_scores(champion(), X, labels, slice_by, metric)
        new = slice_scores(candidate, X, labels, slice_by, metric)
        drops = pd.Series({k: old[k] - new[k] for k in old if k in new}, dtype=float)
        if drops.empty:
            return True, None, slice_tolerance, "no slice scored for both models"
        bad = drops[drops > slice_tolerance]
        worst = float(drops.max())
        names = ", ".join(f"{k}={v:+.4f}" for k, v in bad.items())
        return worst <= slice_tolerance, worst, slice_tolerance, (
            f"worst drop {worst:.4f} (tolerance {slice_tolerance}); over tolerance: [{names}]")

    def signature_check():
        problems = signature_problems(_columns(f"models:/{model_name}/{version}"), _columns(candidate_uri))
        return len(problems) == 0, len(problems), 0, " | ".join(problems) or "0 problems"

    def size_check():
        size = _artifact_bytes(candidate_uri)
        return size <= max_size_bytes, size, max_size_bytes, f"{size} B of {max_size_bytes} B"

    def latency_check():
        seconds = (measure_latency or _timed)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1000.0
        return ms <= max_latency_ms, ms, max_latency_ms, f"{ms} ms of {max_latency_ms} ms"

    limits = {"metric": None, "slices": slice_tolerance, "signature": 0, "size": max_size_bytes,
              "latency": max_latency_ms}
    plan = {"metric": metric_check, "slices": slices_check, "signature": signature_check, "size": size_check,
            "latency": latency_check}
    if version is None:
        for name in ("metric", "slices", "signature"):
            plan[name] = lambda name=name: (True, None, limits[name], "first deploy: nothing to compare with")
    checks = []
    for name in CHECKS:
        try:
            passed, value, limit, message = plan[name]()
            checks.append(Check(name, bool(passed), value, limit, message))
        except Exception as error:  # noqa: BLE001 - a check that cannot be computed fails alone
            checks.append(Check(name, False, None, limits[name], f"error: {error!r}"))
    return GateReport(candidate=candidate_uri, champion=version, checks=checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow import MlflowClient

    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError(f"refusing to promote: failed {failed}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    serving = _serving_version(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, serving {serving}")
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if serving is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
