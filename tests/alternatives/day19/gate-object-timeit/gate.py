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
import os
import tempfile
import timeit

import numpy as np
from sklearn import metrics as _metrics

_SCORERS = {
    "roc_auc": lambda model, X, y: _metrics.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: _metrics.accuracy_score(y, model.predict(X)),
}


def _labels(X, y, metric):
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    labels = y.to_numpy() if isinstance(y, pd.Series) else np.array(list(y) if not hasattr(y, "__array__") else y)
    if X.shape[0] == 0 or labels.shape[0] != X.shape[0]:
        raise ValueError(f"need a label for each of at least one row: {X.shape[0]} rows, {labels.shape[0]} labels")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    return float(_SCORERS[metric](model, X, _labels(X, y, metric)) if metric in _SCORERS else _labels(X, y, metric))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    keys = X[slice_by]  # KeyError for a missing column
    if keys.isnull().to_numpy().any():
        raise ValueError(f"{int(keys.isnull().sum())} rows have no {slice_by!r}")
    positions = pd.Series(np.arange(len(X))).groupby(keys.to_numpy(), sort=False).indices
    out = {}
    for key, where in positions.items():
        part = labels[where]
        if metric == "roc_auc" and (part == part[0]).all():
            continue
        out[key.item() if isinstance(key, (np.integer, np.bool_)) else key] = score(model, X.iloc[where], part, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    found = []
    for column in champion.keys() - candidate.keys():
        found.append((column, f"{column}: the candidate does not take this {champion[column]} column"))
    for column in candidate.keys() - champion.keys():
        found.append((column, f"{column}: the candidate wants this {candidate[column]} column, which callers never send"))
    for column in champion.keys() & candidate.keys():
        if champion[column] != candidate[column]:
            found.append((column, f"{column}: type {champion[column]} -> {candidate[column]}"))
    return [message for _, message in sorted(found)]


class _Gate:
    def __init__(self, tracking_uri, model_name, candidate_uri, X, y, slice_by, metric, margin, tolerance,
                 max_size, max_ms, measure, first_deploy):
        self.__dict__.update(locals())
        del self.__dict__["self"]

    def validate(self):
        if self.metric not in METRICS:
            raise ValueError(f"bad metric {self.metric!r}")
        for label, v in (("margin", self.margin), ("slice_tolerance", self.tolerance)):
            if type(v) is bool or not isinstance(v, (int, float, np.integer, np.floating)) or not (0 <= v < math.inf):
                raise ValueError(f"bad {label}: {v!r}")
        if type(self.max_size) is bool or not isinstance(self.max_size, (int, np.integer)) or self.max_size < 1:
            raise ValueError(f"bad max_size_bytes: {self.max_size!r}")
        self.max_size = int(self.max_size)  # a NumPy integer is kept as the plain int it holds
        v = self.max_ms
        if type(v) is bool or not isinstance(v, (int, float, np.integer, np.floating)) or not (0 < v < math.inf):
            raise ValueError(f"bad max_latency_ms: {v!r}")
        self.margin, self.tolerance, self.max_ms = float(self.margin), float(self.tolerance), float(self.max_ms)
        self.labels = _labels(self.X, self.y, self.metric)
        self.X[self.slice_by]  # KeyError

    def connect(self):
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        self.client = mlflow.MlflowClient(self.tracking_uri, self.tracking_uri)
        try:
            aliases = self.client.get_registered_model(self.model_name).aliases
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise  # the registry is unreachable: not the same as no champion
            aliases = {}
        self.champion_version = str(aliases["champion"]) if "champion" in aliases else None
        if self.champion_version is None and not self.first_deploy:
            raise LookupError(f"{self.model_name} has no champion")
        try:
            self.candidate = mlflow.sklearn.load_model(self.candidate_uri)
        except Exception as exc:
            raise LookupError(f"cannot load {self.candidate_uri}: {exc}") from exc

    @staticmethod
    def attempt(name, limit, fn):
        try:
            passed, value, message = fn()
        except Exception as exc:
            return Check(name, False, None, limit if not callable(limit) else None, f"error: {exc!r}")
        return Check(name, bool(passed), value, limit() if callable(limit) else limit, message)

    def run(self):
        import mlflow

        self.validate()
        self.connect()
        checks = []
        if self.champion_version is None:
            checks = [Check(n, True, None, None, "nothing to compare with") for n in CHECKS[:3]]
        else:
            champion_uri = f"models:/{self.model_name}/{self.champion_version}"
            champ = _load_champion(champion_uri)
            held = {}

            def metric():
                limit = held["limit"] = score(champ, self.X, self.labels, self.metric) + self.margin
                value = score(self.candidate, self.X, self.labels, self.metric)
                return value > limit, value, f"{value:.4f} against {limit:.4f}"

            def slices():
                a = slice_scores(champ, self.X, self.labels, self.slice_by, self.metric)
                b = slice_scores(self.candidate, self.X, self.labels, self.slice_by, self.metric)
                drop = pd.Series({k: a[k] - b[k] for k in a if k in b}, dtype=float)
                bad = drop[drop > self.tolerance]
                worst = float(drop.max()) if len(drop) else None
                return bad.empty, worst, "; ".join(f"{k} dropped {d:.4f}" for k, d in bad.items()) or (
                    f"worst drop {worst}")

            def signature():
                def cols(uri):
                    sig = mlflow.models.get_model_info(uri).signature
                    return None if sig is None else {c["name"]: c["type"] for c in sig.inputs.to_dict()}
                a, b = cols(champion_uri), cols(self.candidate_uri)
                if a is None or b is None:
                    return False, None, "no signature to compare"
                problems = signature_problems(a, b)
                return not problems, len(problems), " | ".join(problems) or "compatible"

            checks = [self.attempt("metric", lambda: held["limit"], metric), self.attempt("slices", self.tolerance, slices),
                      self.attempt("signature", 0, signature)]

        def size():
            with tempfile.TemporaryDirectory() as tmp:
                root = mlflow.artifacts.download_artifacts(artifact_uri=self.candidate_uri, dst_path=tmp)
                total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)
            return total <= self.max_size, total, f"{total} of {self.max_size} bytes"

        def latency():
            row = self.X.iloc[[0]]
            if self.measure is None:
                self.candidate.predict(row)
                n = 3
                seconds = timeit.Timer(lambda: self.candidate.predict(row)).timeit(number=n) / n
            else:
                seconds = self.measure(self.candidate, row)
            ms = float(seconds) * 1000
            return ms <= self.max_ms, ms, f"{ms} ms of {self.max_ms} ms"

        checks += [self.attempt("size", self.max_size, size), self.attempt("latency", self.max_ms, latency)]
        return GateReport(self.candidate_uri, self.champion_version, checks)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    return _Gate(tracking_uri, model_name, candidate_uri, X, y, slice_by, metric, margin, slice_tolerance,
                 max_size_bytes, max_latency_ms, measure_latency, first_deploy).run()


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    failed = [c.name for c in report.checks if not c.passed]
    if failed or not report.checks:
        raise ValueError("refused, failed checks: " + " ".join(failed))
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        aliases = {}
    now = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    if now != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {now}")
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    new = mlflow.register_model(report.candidate, model_name).version
    if now:
        client.set_registered_model_alias(model_name, PREVIOUS, now)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return f"{new}"


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
