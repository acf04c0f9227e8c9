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
import shutil
import tempfile
import timeit
import os

import mlflow
from sklearn.metrics import accuracy_score, roc_auc_score

_SCORERS = {
    "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
}


def _labels(X, y, metric):
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, got {metric!r}")
    labels = pd.Series(list(y) if not isinstance(y, pd.Series) else y.to_list())
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if X.shape[0] != labels.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but {labels.shape[0]} labels were given")
    return labels.to_numpy()


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    keys = X[slice_by]  # KeyError when it is not a column
    if keys.isnull().any():
        raise ValueError(f"{keys.isnull().sum()} rows have no {slice_by!r}")
    out = {}
    for value, positions in keys.reset_index(drop=True).groupby(keys.reset_index(drop=True), sort=False).indices.items():
        part_y = labels[positions]
        if metric == "roc_auc" and pd.Series(part_y).nunique() < 2:
            continue
        out[int(value) if pd.api.types.is_integer(value) else bool(value) if pd.api.types.is_bool(value) else value] = score(model, X.iloc[positions], part_y, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    messages = {}
    for column, kind in champion.items():
        if column not in candidate:
            messages[column] = f"{column}: the candidate lacks this {kind} column"
        elif candidate[column] != kind:
            messages[column] = f"{column}: type {kind} became {candidate[column]}"
    for column, kind in candidate.items():
        if column not in champion:
            messages[column] = f"{column}: new {kind} column callers never send"
    return [messages[c] for c in sorted(messages)]


class _Gate:
    def __init__(self, tracking_uri, model_name, candidate_uri, X, y, slice_by, metric, margin,
                 slice_tolerance, max_size_bytes, max_latency_ms, measure_latency, first_deploy):
        self.validate(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms, X, y, slice_by)
        self.tracking_uri, self.model_name, self.candidate_uri = tracking_uri, model_name, candidate_uri
        self.X, self.y, self.slice_by, self.metric = X, _labels(X, y, metric), slice_by, metric
        self.margin, self.slice_tolerance = margin, slice_tolerance
        self.max_size_bytes, self.max_latency_ms = max_size_bytes, max_latency_ms
        self.measure_latency, self.first_deploy = measure_latency or self.timed, first_deploy

    @staticmethod
    def validate(metric, margin, slice_tolerance, max_size_bytes, max_latency_ms, X, y, slice_by):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        for name, v in (("margin", margin), ("slice_tolerance", slice_tolerance)):
            if type(v) is bool or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}={v!r}")
        if type(max_size_bytes) is not int or max_size_bytes <= 0:
            raise ValueError(f"max_size_bytes={max_size_bytes!r}")
        if type(max_latency_ms) is bool or not isinstance(max_latency_ms, (int, float)) \
                or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
            raise ValueError(f"max_latency_ms={max_latency_ms!r}")
        if X.shape[0] == 0 or X.shape[0] != len(y):
            raise ValueError("X is empty or its labels do not match its rows")
        if slice_by not in X:
            raise KeyError(slice_by)

    @staticmethod
    def timed(model, row):
        timer = timeit.Timer(lambda: model.predict(row))
        timer.timeit(number=1)  # warm-up
        runs = 10
        return timer.timeit(number=runs) / runs

    @staticmethod
    def guarded(name, limit, compute):
        try:
            return compute()
        except Exception as exc:  # noqa: BLE001 - a check that cannot be computed fails alone
            return Check(name, False, None, limit, f"{name} could not be computed: {type(exc).__name__}: {exc}")

    def champion_version(self):
        client = mlflow.MlflowClient()
        try:
            return client.get_model_version_by_alias(self.model_name, CHAMPION).version
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise  # the registry is unreachable: not the same as no champion
            return None

    def run(self) -> GateReport:
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        version = self.champion_version()
        if version is None and not self.first_deploy:
            raise LookupError(f"{self.model_name} has no champion alias")
        try:
            self.candidate = mlflow.sklearn.load_model(self.candidate_uri)
        except mlflow.exceptions.MlflowException as exc:
            raise LookupError(str(exc)) from exc
        if version is None:
            compared = [Check(n, True, None, None, "first deploy: no champion") for n in CHECKS[:3]]
        else:
            self.champion_uri = f"models:/{self.model_name}/{version}"
            self.champion = _load_champion(self.champion_uri)
            compared = [self.guarded("metric", None, self.metric_check),
                        self.guarded("slices", self.slice_tolerance, self.slices_check),
                        self.guarded("signature", 0, self.signature_check)]
        budgets = [self.guarded("size", self.max_size_bytes, self.size_check),
                   self.guarded("latency", self.max_latency_ms, self.latency_check)]
        return GateReport(self.candidate_uri, None if version is None else str(version), compared + budgets)

    def metric_check(self):
        cand = score(self.candidate, self.X, self.y, self.metric)
        champ = score(self.champion, self.X, self.y, self.metric)
        limit = champ + self.margin
        verdict = "beats" if cand > limit else "does not beat"
        return Check("metric", bool(cand > limit), cand, limit,
                     f"candidate {self.metric} {cand:.4f} {verdict} champion {champ:.4f} + margin {self.margin}")

    def slices_check(self):
        cand = pd.Series(slice_scores(self.candidate, self.X, self.y, self.slice_by, self.metric), dtype=float)
        champ = pd.Series(slice_scores(self.champion, self.X, self.y, self.slice_by, self.metric), dtype=float)
        drop = (champ - cand).dropna()
        if drop.empty:
            return Check("slices", True, None, self.slice_tolerance, "no slice scored for both")
        worst = float(drop.max())
        regressed = drop[drop > self.slice_tolerance]
        names = ", ".join(f"{k} (-{v:.4f})" for k, v in regressed.items()) or "none"
        return Check("slices", bool(worst <= self.slice_tolerance), worst, self.slice_tolerance,
                     f"worst drop {worst:.4f} vs tolerance {self.slice_tolerance}; regressed: {names}")

    def signature_check(self):
        def columns(uri):
            sig = mlflow.models.get_model_info(uri).signature
            if sig is None:
                raise ValueError(f"{uri} was logged without a signature")
            return {c.name: c.type.name for c in sig.inputs.inputs}

        problems = signature_problems(columns(self.champion_uri), columns(self.candidate_uri))
        return Check("signature", not problems, len(problems), 0, "; ".join(problems) or "compatible")

    def size_check(self):
        scratch = tempfile.mkdtemp()
        try:
            root = mlflow.artifacts.download_artifacts(artifact_uri=self.candidate_uri, dst_path=scratch)
            total = 0
            for folder, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return Check("size", total <= self.max_size_bytes, total, self.max_size_bytes,
                     f"{total} bytes of artifacts (budget {self.max_size_bytes})")

    def latency_check(self):
        ms = 1000.0 * float(self.measure_latency(self.candidate, self.X.iloc[[0]]))
        return Check("latency", bool(ms <= self.max_latency_ms), ms, self.max_latency_ms,
                     f"{ms:.3f} ms per prediction (budget {self.max_latency_ms} ms)")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    return _Gate(tracking_uri, model_name, candidate_uri, X, y, slice_by, metric, margin, slice_tolerance,
                 max_size_bytes, max_latency_ms, measure_latency, first_deploy).run()


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError("refusing to promote; failed: " + ", ".join(failed))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient()
    try:
        serving = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        serving = None
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    new = mlflow.register_model(report.candidate, model_name)
    if serving:
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
