"""Day 19 gate: an object-oriented take (a Gate class holding the run's state)."""

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
    labels = np.asarray(y)
    if X.shape[0] == 0 or labels.shape[0] != X.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {X.shape[0]} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    codes, values = pd.factorize(X[slice_by], use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"some rows have no {slice_by!r}")
    result = {}
    for code, value in enumerate(values):
        mask = codes == code
        if metric == "roc_auc" and np.unique(labels[mask]).size < 2:
            continue
        result[value] = float(_SCORERS[metric](model, X.iloc[np.flatnonzero(mask)], labels[mask]))
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def one(column):
        old, new = champion.get(column), candidate.get(column)
        if column not in candidate:
            return f"{column}: missing from the candidate (was {old})"
        if column not in champion:
            return f"{column}: new in the candidate ({new}); callers do not send it"
        if old != new:
            return f"{column}: type {old} -> {new}"
        return None

    found = ((c, one(c)) for c in {*champion, *candidate})
    return [message for _, message in sorted((c, m) for c, m in found if m is not None)]


def _finite_number(value) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(float(value))


class Gate:
    def __init__(self, tracking_uri, model_name):
        import mlflow

        self.mlflow = mlflow
        self.uri, self.name = tracking_uri, model_name
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def use_store(self):
        self.mlflow.set_tracking_uri(self.uri)
        self.mlflow.set_registry_uri(self.uri)

    def serving_version(self) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        version = model.aliases.get(CHAMPION)
        return None if version is None else str(version)

    def inputs(self, uri):
        signature = self.mlflow.models.get_model_info(uri).signature
        if signature is None or signature.inputs is None:
            raise _NoSignature(uri)
        return {col.name: col.type.name for col in signature.inputs.inputs}

    def artifact_bytes(self, uri) -> int:
        with tempfile.TemporaryDirectory(prefix="gate-size-") as scratch:
            root = self.mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)
            total = 0
            for folder, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
            return total


class _NoSignature(Exception):
    pass


def _time_one_prediction(model, row) -> float:
    model.predict(row)
    runs = 7
    return timeit.timeit(lambda: model.predict(row), number=runs) / runs


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in METRICS:
        raise ValueError(metric)
    if not (_finite_number(margin) and margin >= 0):
        raise ValueError(f"margin {margin!r}")
    if not (_finite_number(slice_tolerance) and slice_tolerance >= 0):
        raise ValueError(f"slice_tolerance {slice_tolerance!r}")
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes {max_size_bytes!r}")
    if not (_finite_number(max_latency_ms) and max_latency_ms > 0):
        raise ValueError(f"max_latency_ms {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    labels = _labels(X, y, metric)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")

    gate = Gate(tracking_uri, model_name)
    gate.use_store()
    version = gate.serving_version()
    if version is None and not first_deploy:
        raise LookupError(f"{model_name} has no '{CHAMPION}' alias")
    try:
        candidate = gate.mlflow.sklearn.load_model(candidate_uri)
    except Exception as error:
        raise LookupError(f"candidate {candidate_uri} not found: {error}") from error

    results: dict[str, Check] = {}

    def guarded(name, limit, compute):
        try:
            results[name] = compute()
        except Exception as error:  # noqa: BLE001 - turned into a failed check
            results[name] = Check(name, False, None, limit, f"{name} could not be computed: {error}")

    if version is None:
        for name, limit in (("metric", None), ("slices", slice_tolerance), ("signature", 0)):
            results[name] = Check(name, True, None, limit, "first deploy, nothing to compare (0 checks)")
    else:
        champion_uri = f"models:/{model_name}/{version}"
        holder = {}

        def champion_model():
            if "model" not in holder:
                holder["model"] = gate.mlflow.sklearn.load_model(champion_uri)
            return holder["model"]

        def metric_check():
            old = champion_model()
            value = score(candidate, X, labels, metric)
            limit = score(old, X, labels, metric) + margin
            return Check("metric", bool(value > limit), value, limit,
                         f"{metric}: candidate {value:.4f}, needed more than {limit:.4f}")

        def slices_check():
            old = slice_scores(champion_model(), X, labels, slice_by, metric)
            new = slice_scores(candidate, X, labels, slice_by, metric)
            drops = pd.Series({k: old[k] - new[k] for k in old.keys() & new.keys()}, dtype=float)
            if drops.empty:
                return Check("slices", True, None, slice_tolerance, "0 slices could be scored")
            worst = float(drops.max())
            regressed = drops[drops > slice_tolerance]
            text = ", ".join(f"{k}: -{d:.4f}" for k, d in regressed.items())
            return Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                         f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: {text or 'none'}")

        def signature_check():
            try:
                problems = signature_problems(gate.inputs(champion_uri), gate.inputs(candidate_uri))
            except _NoSignature as missing:
                return Check("signature", False, None, 0, f"no signature logged for {missing}")
            return Check("signature", len(problems) == 0, len(problems), 0,
                         f"{len(problems)} problem(s): " + " | ".join(problems))

        guarded("metric", None, metric_check)
        guarded("slices", slice_tolerance, slices_check)
        guarded("signature", 0, signature_check)

    def size_check():
        size = gate.artifact_bytes(candidate_uri)
        return Check("size", size <= max_size_bytes, size, max_size_bytes, f"{size} of {max_size_bytes} bytes")

    def latency_check():
        seconds = (measure_latency or _time_one_prediction)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1000.0
        return Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                     f"{ms:.3f} ms for one row (budget {max_latency_ms} ms)")

    guarded("size", max_size_bytes, size_check)
    guarded("latency", max_latency_ms, latency_check)
    return GateReport(candidate_uri, version, [results[name] for name in CHECKS])


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [check.name for check in report.checks if not check.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: failed {', '.join(failed) or 'no checks at all'}")
    gate = Gate(tracking_uri, model_name)
    serving = gate.serving_version()
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    gate.use_store()
    new = str(gate.mlflow.register_model(report.candidate, model_name).version)
    if serving is not None:
        gate.client.set_registered_model_alias(model_name, PREVIOUS, serving)
    gate.client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
