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
import shutil
import tempfile
import timeit
import os

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
_NO_CHAMPION_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


def _labels(X, y, metric) -> pd.Series:
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    labels = pd.Series(list(y) if not isinstance(y, (pd.Series, np.ndarray)) else np.asarray(y))
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels but {X.shape[0]} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels.to_numpy()))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    keys = X[slice_by]  # KeyError when missing
    if keys.isna().to_numpy().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    positions = pd.RangeIndex(len(X))
    groups = pd.Series(positions).groupby(keys.to_numpy(), sort=False, observed=True)
    out = {}
    for key, pos in groups:
        idx = pos.to_numpy()
        part = labels.iloc[idx]
        if metric == "roc_auc" and part.nunique() < 2:
            continue
        out[key.item() if hasattr(key, "item") else key] = score(model, X.iloc[idx], part.to_numpy(), metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(column):
        old, new = champion.get(column), candidate.get(column)
        if column not in candidate:
            return f"{column}: missing from the candidate (was {old})"
        if column not in champion:
            return f"{column}: new in the candidate ({new}), callers do not send it"
        if old != new:
            return f"{column}: type {old} -> {new}"
        return None
    found = (problem(c) for c in sorted({*champion.keys(), *candidate.keys()}))
    return [p for p in found if p is not None]


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _non_negative(name, value):
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return float(value)


class _Gate:
    def __init__(self, tracking_uri, model_name, candidate_uri, X, y, slice_by, metric, margin,
                 slice_tolerance, max_size_bytes, max_latency_ms, measure_latency):
        import mlflow
        from mlflow import MlflowClient
        self.mlflow = mlflow
        self.tracking_uri = tracking_uri
        self.name = model_name
        self.candidate_uri = candidate_uri
        self.X, self.y = X, y
        self.slice_by, self.metric = slice_by, metric
        self.margin, self.tolerance = margin, slice_tolerance
        self.max_size, self.max_ms = max_size_bytes, max_latency_ms
        self.measure = measure_latency or self.perf_counter_latency
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion_version(self):
        return _read_champion(self.client, self.name)

    @staticmethod
    def perf_counter_latency(model, row):
        timer = timeit.Timer(lambda: model.predict(row))
        timer.timeit(number=1)  # warm up
        number = 3
        return min(timer.repeat(repeat=3, number=number)) / number

    def guarded(self, name, limit, compute):
        try:
            return compute()
        except Exception as error:  # noqa: BLE001 - any failure is a failed check
            return Check(name, False, None, limit, f"{name}: could not be computed ({error!r})")

    def metric_check(self, champion_model):
        limit = score(champion_model(), self.X, self.y, self.metric) + self.margin
        value = score(self.candidate, self.X, self.y, self.metric)
        return Check("metric", value > limit, value, limit,
                     f"candidate {self.metric}={value:.4f}, needs > {limit:.4f} (champion + {self.margin})")

    def slices_check(self, champion_model):
        before = slice_scores(champion_model(), self.X, self.y, self.slice_by, self.metric)
        after = slice_scores(self.candidate, self.X, self.y, self.slice_by, self.metric)
        drops = pd.Series({k: before[k] - after[k] for k in before.keys() & after.keys()}, dtype=float)
        if drops.empty:
            return Check("slices", True, None, self.tolerance, "no slice scored for both models")
        worst = float(drops.max())
        regressed = drops[drops > self.tolerance]
        names = ", ".join(f"{k} dropped {v:.4f}" for k, v in regressed.items())
        return Check("slices", worst <= self.tolerance, worst, self.tolerance,
                     f"worst drop {worst:.4f}, tolerance {self.tolerance}" + (f"; regressed: {names}" if names else ""))

    def inputs(self, uri):
        info = self.mlflow.models.get_model_info(uri)
        if info.signature is None:
            raise ValueError(f"{uri} has no signature")
        return {c.name: c.type.name for c in info.signature.inputs.inputs}

    def signature_check(self, champion_uri):
        problems = signature_problems(self.inputs(champion_uri), self.inputs(self.candidate_uri))
        return Check("signature", len(problems) == 0, len(problems), 0,
                     "compatible" if not problems else " | ".join(problems))

    def size_check(self):
        tmp = tempfile.mkdtemp(prefix="gate-")
        try:
            path = self.mlflow.artifacts.download_artifacts(artifact_uri=self.candidate_uri, dst_path=tmp)
            if os.path.isfile(path):
                total = os.path.getsize(path)
            else:
                total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Check("size", total <= self.max_size, total, self.max_size,
                     f"artifacts are {total} bytes, budget {self.max_size}")

    def latency_check(self):
        ms = float(self.measure(self.candidate, self.X.iloc[[0]])) * 1000.0
        fits = ms <= self.max_ms  # NaN compares False
        return Check("latency", bool(fits), ms, self.max_ms, f"{ms:.3f} ms per row, budget {self.max_ms} ms")

    def run(self, first_deploy):
        from mlflow.exceptions import MlflowException
        version = self.champion_version()
        if version is None and not first_deploy:
            raise LookupError(f"registered model {self.name!r} has no champion alias")
        try:
            self.candidate = self.mlflow.sklearn.load_model(self.candidate_uri)
        except (MlflowException, OSError) as error:
            raise LookupError(f"{self.candidate_uri} resolves to no model") from error
        if version is None:
            checks = [Check(n, True, None, None, "first deploy") for n in ("metric", "slices", "signature")]
        else:
            champion_uri = f"models:/{self.name}/{version}"
            cache = {}

            def champion_model():
                if "m" not in cache:
                    cache["m"] = self.mlflow.sklearn.load_model(champion_uri)
                return cache["m"]
            checks = [
                self.guarded("metric", None, lambda: self.metric_check(champion_model)),
                self.guarded("slices", self.tolerance, lambda: self.slices_check(champion_model)),
                self.guarded("signature", 0, lambda: self.signature_check(champion_uri)),
            ]
        checks.append(self.guarded("size", self.max_size, self.size_check))
        checks.append(self.guarded("latency", self.max_ms, self.latency_check))
        checks = [Check(c.name, bool(c.passed), c.value, c.limit, c.message) for c in checks]
        return GateReport(self.candidate_uri, version, checks)


def _read_champion(client, name):
    from mlflow.exceptions import MlflowException
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code in _NO_CHAMPION_CODES:
            return None
        raise


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _non_negative("margin", margin)
    slice_tolerance = _non_negative("slice_tolerance", slice_tolerance)
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_latency_ms = _non_negative("max_latency_ms", max_latency_ms)
    if max_latency_ms == 0:
        raise ValueError("max_latency_ms must be positive")
    labels = _labels(X, y, metric).to_numpy()
    if slice_by not in X.columns:
        raise KeyError(f"no column {slice_by!r}")
    gate = _Gate(tracking_uri, model_name, candidate_uri, X, labels, slice_by, metric, margin,
                 slice_tolerance, max_size_bytes, max_latency_ms, measure_latency)
    return gate.run(first_deploy)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError("refusing to promote; failed checks: " + ", ".join(failed))
    import mlflow
    from mlflow import MlflowClient
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    serving = _read_champion(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    new = mlflow.register_model(report.candidate, model_name)
    if serving is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new.version)
    return str(new.version)
