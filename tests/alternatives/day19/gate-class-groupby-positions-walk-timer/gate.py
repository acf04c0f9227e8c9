"""Day 19 gate, written around a small Gate class and pandas groupby."""

from __future__ import annotations

import math
import os
import tempfile
import timeit
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn import metrics as skm

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


_SCORERS = {
    "roc_auc": lambda model, X, y: skm.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: skm.accuracy_score(y, model.predict(X)),
}


def _labels(X, y, metric) -> np.ndarray:
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    labels = pd.Series(y).to_numpy() if not isinstance(y, np.ndarray) else y
    if X.shape[0] == 0 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {X.shape[0]} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    keys = X[slice_by]  # KeyError when it is not a column
    if keys.isna().to_numpy().any():
        raise ValueError(f"rows without a value in {slice_by!r}")
    positions = pd.Series(np.arange(len(X))).groupby(keys.to_numpy(), sort=False)
    out = {}
    for value, where in positions:
        idx = where.to_numpy()
        part = labels[idx]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[value] = float(_SCORERS[metric](model, X.iloc[idx], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(column):
        old, new = champion.get(column), candidate.get(column)
        if column not in candidate:
            return f"{column}: missing from the candidate (was {old})"
        if column not in champion:
            return f"{column}: new in the candidate ({new}); the champion's callers do not send it"
        if old != new:
            return f"{column}: type {old} -> {new}"
        return None

    found = (problem(c) for c in sorted(champion.keys() | candidate.keys()))
    return [p for p in found if p is not None]


def _finite_number(value) -> bool:
    return type(value) is not bool and isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value)


def _timed_predict(model, row) -> float:
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(number=1)
    runs = 3
    return timer.timeit(number=runs) / runs


class Gate:
    def __init__(self, tracking_uri, model_name, X, labels, slice_by, metric):
        import mlflow

        self.mlflow = mlflow
        self.name = model_name
        self.X, self.y, self.slice_by, self.metric = X, labels, slice_by, metric
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion_version(self) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, CHAMPION).version)
        except MlflowException as error:
            if error.error_code in NO_SUCH:
                return None
            raise

    def inputs(self, uri):
        sig = self.mlflow.models.get_model_info(uri).signature
        return None if sig is None else {c.name: c.type.name for c in sig.inputs.inputs}

    @staticmethod
    def guarded(name, limit, compute) -> Check:
        try:
            return compute()
        except Exception as error:  # noqa: BLE001
            return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    labels = _labels(X, y, metric)
    if not (_finite_number(margin) and margin >= 0):
        raise ValueError(f"bad margin {margin!r}")
    if not (_finite_number(slice_tolerance) and slice_tolerance >= 0):
        raise ValueError(f"bad slice_tolerance {slice_tolerance!r}")
    if type(max_size_bytes) is bool or not isinstance(max_size_bytes, (int, np.integer)) or max_size_bytes < 1:
        raise ValueError(f"bad max_size_bytes {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)  # a NumPy integer is kept as the plain int it holds
    if not (_finite_number(max_latency_ms) and max_latency_ms > 0):
        raise ValueError(f"bad max_latency_ms {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")

    g = Gate(tracking_uri, model_name, X, labels, slice_by, metric)
    from mlflow.exceptions import MlflowException

    version = g.champion_version()
    if version is None and not first_deploy:
        raise LookupError(f"{model_name!r} has no champion alias")
    try:
        cand = g.mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as error:
        raise LookupError(f"candidate {candidate_uri!r} resolves to no model") from error

    def size_check():
        with tempfile.TemporaryDirectory() as scratch:
            root = g.mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch)
            total = 0
            for folder, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return Check("size", total <= max_size_bytes, total, max_size_bytes,
                     f"artifacts {total} B, budget {max_size_bytes} B")

    def latency_check():
        seconds = (measure_latency or _timed_predict)(cand, X.iloc[[0]])
        ms = float(seconds) * 1000.0
        return Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms, f"{ms} ms, budget {max_latency_ms} ms")

    if version is None:
        compared = [Check(n, True, None, None, "nothing to compare with (first deploy)")
                    for n in ("metric", "slices", "signature")]
    else:
        old_uri = f"models:/{model_name}/{version}"
        cache = {}

        def old():
            if "m" not in cache:
                cache["m"] = g.mlflow.sklearn.load_model(old_uri)
            return cache["m"]

        def metric_check():
            champion_score = score(old(), X, labels, metric)
            value = score(cand, X, labels, metric)
            limit = champion_score + margin
            return Check("metric", bool(value > limit), value, limit,
                         f"candidate {value} vs champion {champion_score} + margin {margin} = {limit}")

        def slices_check():
            before = slice_scores(old(), X, labels, slice_by, metric)
            after = slice_scores(cand, X, labels, slice_by, metric)
            drops = pd.Series({k: before[k] - after[k] for k in before.keys() & after.keys()}, dtype=float)
            if drops.empty:  # every slice left out: nothing regressed
                return Check("slices", True, None, slice_tolerance, f"no slice of {slice_by!r} could be scored")
            worst = float(drops.max())
            bad = drops[drops > slice_tolerance]
            listed = "; ".join(f"{k} dropped {v}" for k, v in bad.items())
            return Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                         f"worst drop {worst}, tolerance {slice_tolerance}" + (f": {listed}" if listed else ""))

        def signature_check():
            a, b = g.inputs(old_uri), g.inputs(candidate_uri)
            if a is None or b is None:
                return Check("signature", False, None, 0, "no signature logged: the contract is unknown")
            found = signature_problems(a, b)
            return Check("signature", len(found) == 0, len(found), 0, f"{len(found)} problem(s). " + " | ".join(found))

        compared = [Gate.guarded("metric", None, metric_check),
                    Gate.guarded("slices", slice_tolerance, slices_check),
                    Gate.guarded("signature", 0, signature_check)]
    checks = compared + [Gate.guarded("size", max_size_bytes, size_check),
                         Gate.guarded("latency", max_latency_ms, latency_check)]
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError("refusing to promote; failed: " + (", ".join(failed) or "no checks"))
    g = Gate(tracking_uri, model_name, None, None, None, None)
    now = g.champion_version()
    if now != report.champion:
        raise RuntimeError(f"champion is {now}, the report was judged against {report.champion}")
    new = g.mlflow.register_model(report.candidate, model_name)
    if now is not None:
        g.client.set_registered_model_alias(model_name, PREVIOUS, now)
    g.client.set_registered_model_alias(model_name, CHAMPION, new.version)
    return str(new.version)
