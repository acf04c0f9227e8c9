"""Day 19 gate: a Gate object that collects checks, pandas groupby for slices, the registered
model's alias map, mkdtemp + rmtree, timeit for the default latency."""

from __future__ import annotations

import math
import numbers
import os
import shutil
import tempfile
import timeit
from dataclasses import dataclass, field
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


SCORERS = {
    "roc_auc": lambda model, X, y: skm.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: skm.accuracy_score(y, model.predict(X)),
}


def _prepare(X, y, metric):
    if metric not in SCORERS:
        raise ValueError("metric must be one of " + ", ".join(METRICS))
    labels = pd.Series(np.asarray(y)).to_numpy()
    if X.shape[0] == 0 or labels.shape[0] != X.shape[0]:
        raise ValueError(f"need rows and one label per row: {X.shape[0]} rows, {labels.shape[0]} labels")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _prepare(X, y, metric)
    return float(SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _prepare(X, y, metric)
    keys = X[slice_by]  # KeyError when missing
    if keys.isna().any():
        raise ValueError(f"{int(keys.isna().sum())} rows have no {slice_by!r}")
    positions = pd.Series(np.arange(len(X)))
    out = {}
    for value, where in positions.groupby(keys.to_numpy(), sort=False, observed=True):
        idx = where.to_numpy()
        part = labels[idx]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[value] = float(SCORERS[metric](model, X.iloc[idx], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(column):
        old, new = champion.get(column), candidate.get(column)
        if column not in candidate:
            return f"{column}: missing from the candidate (was {old})"
        if column not in champion:
            return f"{column}: new in the candidate ({new}), the callers do not send it"
        if old != new:
            return f"{column}: type {old} -> {new}"
        return None

    found = (problem(column) for column in sorted({*champion, *candidate}))
    return [text for text in found if text is not None]


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


@dataclass
class _Gate:
    X: pd.DataFrame
    labels: np.ndarray
    slice_by: str
    metric: str
    checks: list = field(default_factory=list)

    def record(self, name, limit, compute):
        try:
            passed, value, message, *measured = compute()
        except Exception as error:  # noqa: BLE001 - a check that cannot be computed fails
            self.checks.append(Check(name, False, None, limit, f"{name} could not be computed: {error}"))
        else:
            self.checks.append(Check(name, bool(passed), value, measured[0] if measured else limit, message))


def _alias_of(client, name):
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    version = aliases.get(CHAMPION)
    return None if version is None else str(version)


def _inputs(uri):
    import mlflow

    sig = mlflow.models.get_model_info(uri).signature
    if sig is None:
        raise ValueError(f"no signature logged for {uri}")
    return {name: kind.name for name, kind in sig.inputs.input_types_dict().items()}


def _timeit(model, row):
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(number=1)
    number = 10
    return min(timer.repeat(repeat=3, number=number)) / number


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow
    import mlflow.sklearn

    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}")
    if not (_real(margin) and margin >= 0):
        raise ValueError(f"margin {margin!r}")
    if not (_real(slice_tolerance) and slice_tolerance >= 0):
        raise ValueError(f"slice_tolerance {slice_tolerance!r}")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, (int, np.integer)) or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)
    if not (_real(max_latency_ms) and max_latency_ms > 0):
        raise ValueError(f"max_latency_ms {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    labels = _prepare(X, y, metric)
    X[slice_by]  # KeyError before anything else

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion_version = _alias_of(client, model_name)
    if champion_version is None and not first_deploy:
        raise LookupError(f"{model_name} has no champion alias")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as error:
        raise LookupError(f"cannot resolve {candidate_uri}: {error}") from error

    gate = _Gate(X, labels, slice_by, metric)
    if champion_version is None:
        gate.record("metric", None, lambda: (True, None, "first deploy"))
        gate.record("slices", slice_tolerance, lambda: (True, None, "first deploy"))
        gate.record("signature", 0, lambda: (True, None, "first deploy"))
    else:
        champion_uri = f"models:/{model_name}/{champion_version}"
        loaded = {}

        def champion():
            if "model" not in loaded:
                loaded["model"] = mlflow.sklearn.load_model(champion_uri)
            return loaded["model"]

        def metric_check():
            old = score(champion(), X, labels, metric)
            new = score(candidate, X, labels, metric)
            limit = old + margin
            return new > limit, new, f"{metric}: candidate {new:.5f}, needs > {limit:.5f} (champion {old:.5f})", limit

        def slices_check():
            old = slice_scores(champion(), X, labels, slice_by, metric)
            new = slice_scores(candidate, X, labels, slice_by, metric)
            drops = pd.Series({k: old[k] - new[k] for k in old.keys() & new.keys()}, dtype=float)
            if drops.empty:
                return True, None, "no slice has a defined score"
            worst = float(drops.max())
            over = drops[drops > slice_tolerance]
            named = ", ".join(f"{k} dropped {v:.4f}" for k, v in over.items())
            return worst <= slice_tolerance, worst, f"worst drop {worst:.4f} (tolerance {slice_tolerance}). {named}"

        def signature_check():
            found = signature_problems(_inputs(champion_uri), _inputs(candidate_uri))
            return len(found) == 0, len(found), "\n".join([f"{len(found)} signature problem(s)", *found])

        for name, limit, compute in (("metric", None, metric_check), ("slices", slice_tolerance, slices_check),
                                     ("signature", 0, signature_check)):
            gate.record(name, limit, compute)

    def size_check():
        folder = tempfile.mkdtemp(prefix="gate-size-")
        try:
            root = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=folder)
            total = 0
            for here, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(here, f)) for f in files)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return total <= max_size_bytes, total, f"{total} bytes of artifacts (budget {max_size_bytes})"

    def latency_check():
        seconds = (measure_latency or _timeit)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1000.0
        return ms <= max_latency_ms, ms, f"{ms:.3f} ms per prediction (budget {max_latency_ms} ms)"

    gate.record("size", max_size_bytes, size_check)
    gate.record("latency", max_latency_ms, latency_check)
    return GateReport(candidate_uri, champion_version, gate.checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        raise ValueError("gate failed: " + ", ".join(c.name for c in report.checks if not c.passed))
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    serving = _alias_of(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is now {serving}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if serving:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
