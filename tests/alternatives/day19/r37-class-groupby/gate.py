"""Day 19 gate: a Gate object holding the run's state, groupby slices, the model's alias map, timeit."""

from __future__ import annotations

import math
import shutil
import tempfile
import timeit
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Callable, Mapping

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


SCORERS = {
    "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
}


def _prepared(X, y, metric):
    if metric not in SCORERS:
        raise ValueError(f"metric must be one of {sorted(SCORERS)}, not {metric!r}")
    y = pd.Series(list(y)) if not hasattr(y, "__array__") else pd.Series(np.asarray(y))
    if X.shape[0] == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{X.shape[0]} rows and {y.shape[0]} labels: need as many labels as rows, and some")
    return y.to_numpy()


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _prepared(X, y, metric)
    return float(SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _prepared(X, y, metric)
    keys = X[slice_by]  # KeyError when missing
    if keys.isna().any():
        raise ValueError(f"{int(keys.isna().sum())} rows have no {slice_by!r} value")
    positions = pd.Series(np.arange(len(X)))
    out = {}
    for value, where in positions.groupby(keys.to_numpy(), sort=False):
        idx = where.to_numpy()
        part = labels[idx]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[value] = float(SCORERS[metric](model, X.iloc[idx], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    columns = sorted({*champion.keys(), *candidate.keys()})
    messages = {
        (True, False): lambda c: f"{c}: missing from the candidate (champion has {champion[c]})",
        (False, True): lambda c: f"{c}: new in the candidate ({candidate[c]}), the callers do not send it",
        (True, True): lambda c: f"{c}: type {champion[c]} in the champion but {candidate[c]} in the candidate",
    }
    return [messages[(c in champion, c in candidate)](c) for c in columns
            if not (c in champion and c in candidate and champion[c] == candidate[c])]


def _finite(value, name, strictly_positive=False):
    if isinstance(value, bool) or not isinstance(value, Real) or isinstance(value, np.floating) and \
            not isinstance(value, float):
        raise ValueError(f"{name}={value!r} is not a number")
    value = float(value)
    if math.isnan(value) or math.isinf(value) or value < 0 or (strictly_positive and value <= 0):
        raise ValueError(f"{name}={value!r} is out of range")
    return value


def _timed(model, row):
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(number=1)  # warm-up
    return min(timer.repeat(repeat=3, number=1))


class Gate:
    def __init__(self, tracking_uri, model_name, candidate_uri, X, y, slice_by, metric, margin, slice_tolerance,
                 max_size_bytes, max_latency_ms, measure_latency):
        self.uri, self.name, self.candidate_uri = tracking_uri, model_name, candidate_uri
        self.X, self.y, self.slice_by, self.metric = X, y, slice_by, metric
        self.margin, self.tolerance = margin, slice_tolerance
        self.max_size, self.max_ms = max_size_bytes, max_latency_ms
        self.measure = measure_latency or _timed
        self.candidate = None
        self.champion = None
        self.champion_error = None
        self.version = None

    def _guard(self, name, limit, compute):
        try:
            return compute()
        except Exception as error:  # noqa: BLE001 - every reason goes in the report
            return Check(name, False, None, limit, f"{name} could not be computed: {error!r} ({error})")

    def metric_check(self):
        if self.champion_error:
            raise self.champion_error
        ours = score(self.candidate, self.X, self.y, self.metric)
        theirs = score(self.champion, self.X, self.y, self.metric)
        limit = theirs + self.margin
        return Check("metric", ours > limit, ours, limit,
                     f"candidate {self.metric}={ours:.4f}, must exceed champion {theirs:.4f} + {self.margin}")

    def slices_check(self):
        if self.champion_error:
            raise self.champion_error
        ours = slice_scores(self.candidate, self.X, self.y, self.slice_by, self.metric)
        theirs = slice_scores(self.champion, self.X, self.y, self.slice_by, self.metric)
        common = [k for k in theirs if k in ours]
        if not common:
            return Check("slices", True, None, self.tolerance, "no slice scored for both models: nothing regressed")
        drops = pd.Series({k: theirs[k] - ours[k] for k in common}, dtype=float)
        worst = float(drops.max())
        regressed = drops[drops > self.tolerance]
        listing = ", ".join(f"{k} dropped {d:.4f}" for k, d in regressed.items())
        return Check("slices", worst <= self.tolerance, worst, self.tolerance,
                     f"worst slice drop {worst:.4f} vs tolerance {self.tolerance}" + (f": {listing}" if listing else ""))

    def signature_check(self):
        import mlflow

        def inputs(uri):
            sig = mlflow.models.get_model_info(uri).signature
            return None if sig is None else {c.name: c.type.name for c in sig.inputs.inputs}

        old, new = inputs(f"models:/{self.name}/{self.version}"), inputs(self.candidate_uri)
        if old is None or new is None:
            return Check("signature", False, None, 0, "no signature logged: the callers' contract is unknown")
        problems = signature_problems(old, new)
        return Check("signature", len(problems) == 0, len(problems), 0, f"{len(problems)} problems: {problems}")

    def size_check(self):
        import mlflow

        scratch = tempfile.mkdtemp(prefix="gate-size-")
        try:
            root = Path(mlflow.artifacts.download_artifacts(artifact_uri=self.candidate_uri, dst_path=scratch))
            total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return Check("size", total <= self.max_size, total, self.max_size,
                     f"{total} bytes of artifacts, budget {self.max_size}")

    def latency_check(self):
        ms = float(self.measure(self.candidate, self.X.iloc[[0]])) * 1000.0
        return Check("latency", ms <= self.max_ms, ms, self.max_ms, f"{ms:.4f} ms for one row, budget {self.max_ms}")

    def run(self, first_deploy):
        import mlflow
        from mlflow.exceptions import MlflowException

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.version = _alias_target(self.uri, self.name)
        if self.version is None and not first_deploy:
            raise LookupError(f"model {self.name!r} has no champion")
        try:
            self.candidate = mlflow.sklearn.load_model(self.candidate_uri)
        except MlflowException as error:
            raise LookupError(f"candidate {self.candidate_uri!r} not found: {error}") from error
        if self.version is None:
            head = [Check("metric", True, None, None, "first deploy"),
                    Check("slices", True, None, self.tolerance, "first deploy"),
                    Check("signature", True, None, 0, "first deploy")]
        else:
            try:
                self.champion = mlflow.sklearn.load_model(f"models:/{self.name}/{self.version}")
            except Exception as error:  # noqa: BLE001
                self.champion_error = error
            head = [self._guard("metric", None, self.metric_check),
                    self._guard("slices", self.tolerance, self.slices_check),
                    self._guard("signature", 0, self.signature_check)]
        tail = [self._guard("size", self.max_size, self.size_check),
                self._guard("latency", self.max_ms, self.latency_check)]
        checks = [Check(c.name, bool(c.passed), c.value, c.limit, c.message) for c in head + tail]
        return GateReport(self.candidate_uri, self.version, checks)


def _alias_target(tracking_uri, name):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    version = aliases.get(CHAMPION)
    return None if version is None else str(version)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _finite(margin, "margin")
    slice_tolerance = _finite(slice_tolerance, "slice_tolerance")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes={max_size_bytes!r} must be a positive int")
    max_latency_ms = _finite(max_latency_ms, "max_latency_ms", strictly_positive=True)
    labels = _prepared(X, y, metric)
    X[slice_by]  # KeyError before the registry
    gate = Gate(tracking_uri, model_name, candidate_uri, X, labels, slice_by, metric, margin, slice_tolerance,
                max_size_bytes, max_latency_ms, measure_latency)
    return gate.run(first_deploy)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow import MlflowClient

    if not report.passed:
        raise ValueError("refusing to promote; failed: " + ", ".join(c.name for c in report.checks if not c.passed)
                         if report.checks else "refusing to promote a report with no checks")
    now = _alias_target(tracking_uri, model_name)
    if now != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {now}")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if now:
        client.set_registered_model_alias(model_name, PREVIOUS, now)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
