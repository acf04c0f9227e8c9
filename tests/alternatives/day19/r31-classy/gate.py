"""Day 19 gate: a Gate object whose methods are the checks, groupby for slices, registered-model
aliases read through get_registered_model, timeit for the default latency."""

from __future__ import annotations

import math
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
NO_SUCH = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


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


def _metric_fn(metric: str):
    from sklearn import metrics

    table = {
        "roc_auc": lambda m, X, y: metrics.roc_auc_score(y, m.predict_proba(X)[:, 1]),
        "accuracy": lambda m, X, y: metrics.accuracy_score(y, m.predict(X)),
    }
    if not isinstance(metric, str) or metric not in table:
        raise ValueError(f"metric must be one of {sorted(table)}, not {metric!r}")
    return table[metric]


def _labels(X, y) -> np.ndarray:
    labels = np.asarray(list(y) if not hasattr(y, "__array__") else y)
    if X.shape[0] == 0:
        raise ValueError("nothing to score: X has no rows")
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels, {X.shape[0]} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    fn = _metric_fn(metric)
    return float(fn(model, X, _labels(X, y)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    fn = _metric_fn(metric)
    labels = _labels(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    if X[slice_by].isna().any():
        raise ValueError(f"rows without a value of {slice_by!r}")
    positions = X.reset_index(drop=True).groupby(slice_by, sort=False).indices
    out = {}
    for value, where in positions.items():
        key = value.item() if isinstance(value, np.generic) else value
        part = labels[where]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[key] = float(fn(model, X.iloc[where], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(column):
        old, new = champion.get(column), candidate.get(column)
        if new is None:
            return f"{column}: missing from the candidate (was {old})"
        if old is None:
            return f"{column}: new in the candidate ({new}), the callers do not send it"
        if old != new:
            return f"{column}: type {old} -> {new}"
        return None

    found = ((column, problem(column)) for column in {*champion, *candidate})
    return [text for _, text in sorted((c, t) for c, t in found if t is not None)]


def _finite_non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: {value!r} is not a number")
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"{name}: {value!r} must be finite and >= 0")


class _Gate:
    def __init__(self, client, model_name, candidate_uri, X, y, slice_by, metric):
        self.client, self.name, self.uri = client, model_name, candidate_uri
        self.X, self.y, self.slice_by, self.metric = X, y, slice_by, metric

    def champion_version(self):
        from mlflow.exceptions import MlflowException

        try:
            aliases = self.client.get_registered_model(self.name).aliases
        except MlflowException as error:
            if error.error_code in NO_SUCH:
                return None
            raise
        version = aliases.get(CHAMPION)
        return None if version is None else str(version)

    @staticmethod
    def inputs(uri):
        from mlflow.models import Model

        signature = Model.load(uri).signature
        if signature is None:
            raise ValueError(f"{uri} has no signature")
        return {c.name: c.type.name for c in signature.inputs.inputs}

    def metric_check(self, old, new, margin):
        value = score(new, self.X, self.y, self.metric)
        limit = score(old, self.X, self.y, self.metric) + margin
        verdict = "beats" if value > limit else "does not beat"
        return Check("metric", bool(value > limit), value, limit,
                     f"candidate {self.metric} {value:.4f} {verdict} champion + margin = {limit:.4f}")

    def slices_check(self, old, new, tolerance):
        before = slice_scores(old, self.X, self.y, self.slice_by, self.metric)
        after = slice_scores(new, self.X, self.y, self.slice_by, self.metric)
        drops = pd.Series({k: before[k] - after[k] for k in before.keys() & after.keys()}, dtype=float)
        if drops.empty:
            return Check("slices", True, None, tolerance, "no slice has a defined metric for both models")
        worst = float(drops.max())
        regressed = drops[drops > tolerance]
        listed = ", ".join(f"{k} (-{v:.4f})" for k, v in regressed.items()) or "none"
        return Check("slices", bool(worst <= tolerance), worst, tolerance,
                     f"worst drop {worst:.4f}, tolerance {tolerance}; regressed: {listed}")

    def signature_check(self, champion_uri):
        problems = signature_problems(self.inputs(champion_uri), self.inputs(self.uri))
        return Check("signature", len(problems) == 0, len(problems), 0,
                     "compatible" if not problems else " | ".join(problems))

    def size_check(self, budget):
        import mlflow

        with tempfile.TemporaryDirectory(prefix="gate-") as scratch:
            root = mlflow.artifacts.download_artifacts(artifact_uri=self.uri, dst_path=scratch)
            total = 0
            for folder, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return Check("size", total <= budget, total, budget, f"{total} B of artifacts, budget {budget} B")

    def latency_check(self, model, measure, budget):
        row = self.X.iloc[[0]]
        if measure is None:
            timer = timeit.Timer(lambda: model.predict(row))
            timer.timeit(number=1)
            seconds = timer.timeit(number=10) / 10
        else:
            seconds = float(measure(model, row))
        ms = seconds * 1000
        return Check("latency", bool(ms <= budget), ms, budget, f"{ms:.3f} ms per prediction, budget {budget} ms")


def _safely(name, limit, compute):
    try:
        return compute()
    except Exception as error:  # noqa: BLE001
        return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    _metric_fn(metric)
    _finite_non_negative("margin", margin)
    _finite_non_negative("slice_tolerance", slice_tolerance)
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    _finite_non_negative("max_latency_ms", max_latency_ms)
    if max_latency_ms == 0:
        raise ValueError("max_latency_ms must be positive")
    labels = _labels(X, y)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")

    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    gate = _Gate(MlflowClient(tracking_uri, tracking_uri), model_name, candidate_uri, X, labels, slice_by, metric)
    version = gate.champion_version()
    if version is None and not first_deploy:
        raise LookupError(f"{model_name} has no '{CHAMPION}' alias (pass first_deploy=True for a first release)")
    try:
        new = mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as error:
        raise LookupError(f"cannot find the candidate {candidate_uri}: {error}") from error

    if version is None:
        checks = [Check("metric", True, None, None, "first deploy: nothing to compare with"),
                  Check("slices", True, None, slice_tolerance, "first deploy: nothing to compare with"),
                  Check("signature", True, None, 0, "first deploy: no callers yet")]
    else:
        champion_uri = f"models:/{model_name}/{version}"
        loaded = {}

        def old():
            if "model" not in loaded:
                try:
                    loaded["model"] = mlflow.sklearn.load_model(champion_uri)
                except Exception as error:  # noqa: BLE001
                    loaded["model"] = error
            if isinstance(loaded["model"], Exception):
                raise loaded["model"]
            return loaded["model"]

        checks = [_safely("metric", None, lambda: gate.metric_check(old(), new, margin)),
                  _safely("slices", slice_tolerance, lambda: gate.slices_check(old(), new, slice_tolerance)),
                  _safely("signature", 0, lambda: gate.signature_check(champion_uri))]
    checks.append(_safely("size", max_size_bytes, lambda: gate.size_check(max_size_bytes)))
    checks.append(_safely("latency", max_latency_ms, lambda: gate.latency_check(new, measure_latency, max_latency_ms)))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [c.name for c in report.checks if not c.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: failed checks {failed or 'none recorded'}")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    current = _Gate(client, model_name, None, None, None, None, None).champion_version()
    if current != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is now {current}")
    new_version = str(mlflow.register_model(report.candidate, model_name).version)
    if current:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, new_version)
    return new_version
