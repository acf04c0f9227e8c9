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

import numpy as np
from sklearn import metrics as _skm

_SCORERS = {
    "roc_auc": lambda model, X, y: _skm.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: _skm.accuracy_score(y, model.predict(X)),
}


class _Rows:
    """Held-out rows and their labels, aligned by position and validated once."""

    def __init__(self, X, y, metric):
        if metric not in _SCORERS:
            raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
        self.y = np.array(list(y) if not hasattr(y, "__array__") else np.asarray(y))
        if X.shape[0] < 1:
            raise ValueError("there are no held-out rows")
        if self.y.shape[0] != X.shape[0]:
            raise ValueError(f"{X.shape[0]} rows but {self.y.shape[0]} labels")
        self.X, self.metric = X, metric

    def score(self, model, positions=None):
        if positions is None:
            return float(_SCORERS[self.metric](model, self.X, self.y))
        return float(_SCORERS[self.metric](model, self.X.iloc[positions], self.y[positions]))

    def groups(self, slice_by):
        if slice_by not in self.X:
            raise KeyError(f"no column {slice_by!r}")
        col = self.X[slice_by]
        if col.isna().to_numpy().any():
            raise ValueError(f"rows without a {slice_by!r} value")
        for key, positions in col.groupby(col, observed=True, sort=False).indices.items():
            yield (key.item() if hasattr(key, "item") else key), np.asarray(positions)

    def slices(self, model, slice_by):
        result = {}
        for key, positions in self.groups(slice_by):
            if self.metric == "roc_auc" and np.unique(self.y[positions]).size < 2:
                continue
            result[key] = self.score(model, positions)
        return result


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    return _Rows(X, y, metric).score(model)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    return _Rows(X, y, metric).slices(model, slice_by)


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    columns = sorted({*champion.keys(), *candidate.keys()})
    out = []
    for name in columns:
        old, new = champion.get(name), candidate.get(name)
        if name not in candidate:
            out.append(f"{name}: missing from the candidate (was {old})")
        elif name not in champion:
            out.append(f"{name}: new in the candidate ({new}), the champion's callers do not send it")
        elif old != new:
            out.append(f"{name}: type {old} -> {new}")
    return out


def _number(name, value, allow_zero):
    if type(value) is bool or isinstance(value, np.bool_):
        raise ValueError(f"{name}: a bool is not a number")
    if not isinstance(value, (int, float)):
        raise ValueError(f"{name}: {value!r} is not a number")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: {value!r} is not finite")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}: {value!r} out of range")
    return float(value)


class _Gate:
    NO_SUCH = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}

    def __init__(self, tracking_uri, model_name):
        import mlflow

        self.mlflow = mlflow
        self.uri, self.name = tracking_uri, model_name
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion(self):
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.name, CHAMPION)
        except MlflowException as e:
            if e.error_code in self.NO_SUCH:
                return None
            raise
        return str(mv.version)

    def columns(self, uri):
        sig = self.mlflow.models.get_model_info(uri).signature
        if sig is None or sig.inputs is None:
            raise ValueError(f"the model at {uri} has no input signature")
        return {c.name: c.type.name for c in sig.inputs.inputs}

    def artifact_bytes(self, uri):
        scratch = tempfile.mkdtemp(prefix="gate-size-")
        try:
            local = self.mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)
            total = 0
            for root, _dirs, files in os.walk(local):
                for f in files:
                    total += os.path.getsize(os.path.join(root, f))
            return total
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _timed(model, row):
    model.predict(row)
    return min(timeit.Timer(lambda: model.predict(row)).repeat(repeat=3, number=1))


def _run(name, limit, compute):
    """compute() -> (passed, value, message); any exception becomes a failed check with value None."""
    try:
        passed, value, message = compute()
    except Exception as e:  # noqa: BLE001
        return Check(name, False, None, limit, f"cannot compute {name}: {e!r} / {e}")
    return Check(name, bool(passed), value, limit, message)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _number("margin", margin, True)
    slice_tolerance = _number("slice_tolerance", slice_tolerance, True)
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_latency_ms = _number("max_latency_ms", max_latency_ms, False)
    rows = _Rows(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    g = _Gate(tracking_uri, model_name)
    version = g.champion()
    if version is None and not first_deploy:
        raise LookupError(f"registered model {model_name!r} has no champion")
    from mlflow.exceptions import MlflowException

    try:
        cand = g.mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as e:
        raise LookupError(f"no model at {candidate_uri}: {e}") from e

    checks = []
    if version is None:
        for name, limit in (("metric", None), ("slices", slice_tolerance), ("signature", 0)):
            checks.append(Check(name, True, None, limit, "first deploy: nothing to compare with"))
    else:
        champ_uri = f"models:/{model_name}/{version}"
        state = {}

        def champ():
            if "model" not in state:
                try:
                    state["model"] = g.mlflow.sklearn.load_model(champ_uri)
                except Exception as e:  # noqa: BLE001
                    state["model"] = e
            if isinstance(state["model"], Exception):
                raise state["model"]
            return state["model"]

        def metric_check():
            old = rows.score(champ())
            new = rows.score(cand)
            limit = old + margin
            return new > limit, new, f"{metric}: candidate {new:.5f}, champion {old:.5f}, needs > {limit:.5f}"

        def slices_check():
            old = rows.slices(champ(), slice_by)
            new = rows.slices(cand, slice_by)
            common = [k for k in old if k in new]
            if not common:
                return True, None, "no slice scored for both models: nothing regressed"
            drops = {k: old[k] - new[k] for k in common}
            worst = max(drops.values())
            bad = sorted((k for k in common if drops[k] > slice_tolerance), key=str)
            msg = f"worst drop {worst:.5f} (tolerance {slice_tolerance})"
            if bad:
                msg += "; regressed: " + ", ".join(f"{k} {old[k]:.4f}->{new[k]:.4f}" for k in bad)
            return worst <= slice_tolerance, float(worst), msg

        def signature_check():
            problems = signature_problems(g.columns(champ_uri), g.columns(candidate_uri))
            return len(problems) == 0, len(problems), f"{len(problems)} problems: " + " | ".join(problems)

        checks.append(_run("metric", None, metric_check))
        checks.append(_run("slices", slice_tolerance, slices_check))
        checks.append(_run("signature", 0, signature_check))
        if checks[0].value is not None:
            checks[0] = Check("metric", checks[0].passed, checks[0].value,
                              float(rows.score(champ()) + margin), checks[0].message)

    def size_check():
        n = g.artifact_bytes(candidate_uri)
        return n <= max_size_bytes, n, f"{n} bytes of {max_size_bytes}"

    def latency_check():
        seconds = (measure_latency or _timed)(cand, X.iloc[[0]])
        ms = float(seconds) * 1000.0
        return ms <= max_latency_ms, ms, f"{ms:.4f} ms (budget {max_latency_ms} ms)"

    checks.append(_run("size", max_size_bytes, size_check))
    checks.append(_run("latency", max_latency_ms, latency_check))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        bad = ", ".join(c.name for c in report.checks if not c.passed) or "no checks were run"
        raise ValueError(f"refusing to promote: {bad}")
    g = _Gate(tracking_uri, model_name)
    now = g.champion()
    if now != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {now}")
    new = str(g.mlflow.register_model(report.candidate, model_name).version)
    if now is not None:
        g.client.set_registered_model_alias(model_name, PREVIOUS, now)
    g.client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
