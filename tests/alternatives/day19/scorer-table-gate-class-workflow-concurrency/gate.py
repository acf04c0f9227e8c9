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
import shutil
import tempfile
import timeit

import numpy as np
from sklearn import metrics as skm

_SCORERS = {
    "roc_auc": lambda model, X, y: skm.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: skm.accuracy_score(y, model.predict(X)),
}


def _labels(X, y, metric):
    if metric not in _SCORERS or not isinstance(metric, str):
        raise ValueError("metric must be 'roc_auc' or 'accuracy'")
    y = pd.Series(list(y) if not hasattr(y, "__len__") else np.asarray(y)).to_numpy()
    if X.shape[0] == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{X.shape[0]} rows and {y.shape[0]} labels")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _labels(X, y, metric)
    keys = X[slice_by]  # KeyError when missing
    if keys.isna().to_numpy().any():
        raise ValueError(f"rows without a value of {slice_by!r}")
    positions = pd.Series(np.arange(len(X))).groupby(keys.to_numpy(), sort=False).indices
    out = {}
    for key, idx in positions.items():
        if metric == "roc_auc" and np.unique(y[idx]).size < 2:
            continue
        key = key.item() if isinstance(key, np.generic) else key
        out[key] = float(_SCORERS[metric](model, X.iloc[idx], y[idx]))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(column):
        old, new = champion.get(column), candidate.get(column)
        if new is None:
            return f"{column}: missing from the candidate (was {old})"
        if old is None:
            return f"{column}: new in the candidate ({new}); the champion's callers do not send it"
        if old != new:
            return f"{column}: type {old} -> {new}"
        return None

    columns = sorted(champion.keys() | candidate.keys())
    return [p for p in map(problem, columns) if p is not None]


class _Gate:
    def __init__(self, tracking_uri, model_name, candidate_uri, X, y, options):
        self.uri, self.name, self.candidate_uri, self.X, self.y = tracking_uri, model_name, candidate_uri, X, y
        self.o = options

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def champion_version(self):
        return _read_champion(self._client(), self.name)

    @staticmethod
    def _signature(uri):
        from mlflow.models import get_model_info

        sig = get_model_info(uri).signature
        if sig is None:
            raise ValueError(f"{uri} was logged without a signature")
        return {c.name: c.type.name for c in sig.inputs.inputs}

    def _guard(self, name, limit, compute):
        try:
            return compute()
        except Exception as exc:  # noqa: BLE001
            return Check(name, False, None, limit, f"{name} could not be computed: {type(exc).__name__}: {exc}")

    def comparisons(self, candidate, version):
        import mlflow

        o = self.o
        if version is None:
            return [Check("metric", True, None, None, "no champion yet"),
                    Check("slices", True, None, o["slice_tolerance"], "no champion yet"),
                    Check("signature", True, None, 0, "no champion yet")]
        champ_uri = f"models:/{self.name}/{version}"
        loaded = {}

        def champion():
            if "m" not in loaded:
                loaded["m"] = mlflow.sklearn.load_model(champ_uri)
            return loaded["m"]

        def metric():
            base = score(champion(), self.X, self.y, o["metric"])
            value = score(candidate, self.X, self.y, o["metric"])
            limit = base + o["margin"]
            return Check("metric", bool(value > limit), value, limit,
                         f"candidate {value:.4f}, must beat {limit:.4f} (champion {base:.4f} + {o['margin']})")

        def slices():
            base = slice_scores(champion(), self.X, self.y, o["slice_by"], o["metric"])
            cand = slice_scores(candidate, self.X, self.y, o["slice_by"], o["metric"])
            tol = o["slice_tolerance"]
            drops = pd.Series({k: base[k] - cand[k] for k in base.keys() & cand.keys()}, dtype=float)
            if drops.empty:
                return Check("slices", True, None, tol, "no slice scored for both models")
            worst = float(drops.max())
            bad = drops[drops > tol]
            return Check("slices", bool(worst <= tol), worst, tol,
                         f"worst drop {worst:.4f} vs tolerance {tol}; regressed: "
                         + (", ".join(f"{k} (-{v:.4f})" for k, v in bad.items()) or "none"))

        def signature():
            problems = signature_problems(self._signature(champ_uri), self._signature(self.candidate_uri))
            return Check("signature", len(problems) == 0, len(problems), 0,
                         "compatible (0 problems)" if not problems else f"{len(problems)} problem(s): {problems}")

        return [self._guard("metric", None, metric), self._guard("slices", o["slice_tolerance"], slices),
                self._guard("signature", 0, signature)]

    def budgets(self, candidate):
        import mlflow

        o = self.o

        def size():
            scratch = tempfile.mkdtemp(prefix="gate-size-")
            try:
                local = mlflow.artifacts.download_artifacts(artifact_uri=self.candidate_uri, dst_path=scratch)
                total = 0
                for root, _dirs, files in os.walk(local):
                    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return Check("size", total <= o["max_size_bytes"], total, o["max_size_bytes"],
                         f"{total} bytes against {o['max_size_bytes']}")

        def latency():
            row = self.X.iloc[[0]]
            measure = o["measure_latency"]
            if measure is None:
                timer = timeit.Timer(lambda: candidate.predict(row))
                timer.timeit(1)
                seconds = min(timer.repeat(repeat=3, number=1))
            else:
                seconds = measure(candidate, row)
            ms = float(seconds) * 1000
            return Check("latency", bool(ms <= o["max_latency_ms"]), ms, o["max_latency_ms"],
                         f"{ms} ms against {o['max_latency_ms']} ms")

        return [self._guard("size", o["max_size_bytes"], size), self._guard("latency", o["max_latency_ms"], latency)]


def _read_champion(client, name):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in (ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)):
            return None
        raise


def _real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow

    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}")
    if not all(_real(v) and math.isfinite(v) and v >= 0 for v in (margin, slice_tolerance)):
        raise ValueError("margin and slice_tolerance must be finite numbers >= 0")
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError("max_size_bytes must be a positive int")
    if not (_real(max_latency_ms) and math.isfinite(max_latency_ms) and max_latency_ms > 0):
        raise ValueError("max_latency_ms must be a positive finite number")
    labels = _labels(X, y, metric)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")
    options = dict(slice_by=slice_by, metric=metric, margin=float(margin), slice_tolerance=float(slice_tolerance),
                   max_size_bytes=max_size_bytes, max_latency_ms=float(max_latency_ms), measure_latency=measure_latency)
    g = _Gate(tracking_uri, model_name, candidate_uri, X, labels, options)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = g.champion_version()
    if version is None and not first_deploy:
        raise LookupError(f"{model_name} has no '{CHAMPION}' alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as exc:
        raise LookupError(f"cannot load {candidate_uri}: {exc}") from exc
    return GateReport(candidate_uri, version, g.comparisons(candidate, version) + g.budgets(candidate))


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow
    from mlflow import MlflowClient

    if not report.passed:
        raise ValueError("refusing to promote; failed checks: "
                         + ", ".join(c.name for c in report.checks if not c.passed) or "(no checks)")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    serving = _read_champion(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    new = mlflow.register_model(report.candidate, model_name).version
    if serving:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, str(new))
    return str(new)
