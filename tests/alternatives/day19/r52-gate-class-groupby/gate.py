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
import math
import os
import shutil
import tempfile
import timeit
from decimal import Decimal
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
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


def _validated(X, y, metric):
    if metric not in _SCORERS or type(metric) is not str:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, got {metric!r}")
    n = X.shape[0]
    y = pd.Series(list(y) if not hasattr(y, "__len__") else y).to_numpy() if not isinstance(y, np.ndarray) else y
    if n == 0:
        raise ValueError("X holds no rows")
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y.shape[0]} labels")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given."""
    y = _validated(X, y, metric)
    return float(_SCORERS[metric](model, X, y))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`."""
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r} to slice by")
    y = _validated(X, y, metric)
    keys = X[slice_by]
    if keys.isna().to_numpy().any():
        raise ValueError(f"rows without a value in {slice_by!r}")
    positions = pd.Series(keys.to_numpy(dtype=object)).groupby(
        pd.Series(keys.to_numpy(dtype=object)), sort=False).indices
    out = {}
    for key, where in positions.items():
        labels = y[where]
        if metric == "roc_auc" and np.unique(labels).size < 2:
            continue  # undefined with a single class
        if isinstance(key, np.generic):
            key = key.item()
        out[key] = float(_SCORERS[metric](model, X.iloc[where], labels))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that differs, sorted by column."""
    found = {}
    for name, kind in champion.items():
        if name not in candidate:
            found[name] = f"{name}: the candidate lacks this {kind} column the champion takes"
        elif candidate[name] != kind:
            found[name] = f"{name}: type {kind} (champion) became {candidate[name]} (candidate)"
    for name, kind in candidate.items():
        if name not in champion:
            found[name] = f"{name}: the candidate wants a new {kind} column callers never send"
    return [found[name] for name in sorted(found)]


def _number(name, value, *, allow_zero):
    if isinstance(value, (bool, np.bool_, Decimal)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}={value!r} is not a number")
    value = float(value)
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}={value!r} is out of range")
    return value


def _read_champion(client, model_name):
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION).version
    except MlflowException as err:
        if err.error_code not in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise
        return None


def _columns(uri):
    import mlflow

    info = mlflow.models.get_model_info(uri)
    if info.signature is None:
        raise ValueError(f"{uri} was logged without a signature")
    return {col.name: col.type.name for col in info.signature.inputs.inputs}


def _time_one_prediction(model, row):
    model.predict(row)
    calls = 7
    return timeit.timeit(lambda: model.predict(row), number=calls) / calls


def _artifact_bytes(uri):
    import mlflow

    folder = tempfile.mkdtemp(prefix="candidate-")
    try:
        root = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        total = 0
        for base, _dirs, files in os.walk(root):
            for file in files:
                path = os.path.join(base, file)
                if os.path.isfile(path):
                    total += os.path.getsize(path)
        return total
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Gate:
    def __init__(self, X, y, slice_by, metric, margin, tolerance, candidate, champion, champion_uri,
                 candidate_uri):
        self.X, self.y, self.slice_by, self.metric = X, y, slice_by, metric
        self.margin, self.tolerance = margin, tolerance
        self.candidate, self.champion = candidate, champion
        self.champion_uri, self.candidate_uri = champion_uri, candidate_uri

    def metric_check(self):
        mine = score(self.candidate, self.X, self.y, self.metric)
        bar = score(self.champion(), self.X, self.y, self.metric) + self.margin
        ok = mine > bar
        return Check("metric", ok, mine, bar,
                     f"candidate {self.metric}={mine:.4f} vs champion+margin={bar:.4f}: {'better' if ok else 'not better'}")

    def slices_check(self):
        new = slice_scores(self.candidate, self.X, self.y, self.slice_by, self.metric)
        old = slice_scores(self.champion(), self.X, self.y, self.slice_by, self.metric)
        common = [k for k in old if k in new]
        if not common:
            return Check("slices", True, None, self.tolerance, "no slice scored for both models")
        drop = {k: old[k] - new[k] for k in common}
        worst = max(drop.values())
        regressed = ", ".join(f"{k}={old[k]:.3f}->{new[k]:.3f} (-{drop[k]:.3f})"
                              for k in common if drop[k] > self.tolerance)
        return Check("slices", worst <= self.tolerance, float(worst), self.tolerance,
                     f"worst drop {worst:.4f} (tolerance {self.tolerance}); regressed: {regressed or 'none'}")

    def signature_check(self):
        problems = signature_problems(_columns(self.champion_uri), _columns(self.candidate_uri))
        return Check("signature", len(problems) == 0, len(problems), 0,
                     f"{len(problems)} problems" + "".join(f"\n- {p}" for p in problems))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    """Judge the model at `candidate_uri` against the version `champion` points at."""
    if metric not in METRICS or type(metric) is not str:
        raise ValueError(f"unknown metric {metric!r}")
    margin = _number("margin", margin, allow_zero=True)
    slice_tolerance = _number("slice_tolerance", slice_tolerance, allow_zero=True)
    if isinstance(max_size_bytes, np.integer) and not isinstance(max_size_bytes, np.bool_):
        max_size_bytes = int(max_size_bytes)
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes={max_size_bytes!r} is not a positive int")
    max_latency_ms = _number("max_latency_ms", max_latency_ms, allow_zero=False)
    y = _validated(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(f"no column {slice_by!r}")

    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = _read_champion(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"{model_name!r} has no champion alias (pass first_deploy=True for a first deploy)")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as err:
        raise LookupError(f"{candidate_uri!r} resolves to no model: {err}") from err

    checks = []
    if version is None:
        for name, limit in (("metric", None), ("slices", slice_tolerance), ("signature", 0)):
            checks.append(Check(name, True, None, limit, "first deploy: nothing to compare with"))
    else:
        version = str(version)
        champion_uri = f"models:/{model_name}/{version}"
        loaded = []

        def champion():
            if not loaded:
                loaded.append(mlflow.sklearn.load_model(champion_uri))
            return loaded[0]

        judge = _Gate(X, y, slice_by, metric, margin, slice_tolerance, candidate, champion, champion_uri,
                      candidate_uri)
        for name, run, limit in (("metric", judge.metric_check, None), ("slices", judge.slices_check, slice_tolerance),
                                 ("signature", judge.signature_check, 0)):
            try:
                check = run()
                checks.append(Check(check.name, bool(check.passed), check.value, check.limit, check.message))
            except Exception as err:  # noqa: BLE001
                checks.append(Check(name, False, None, limit, f"could not compute {name}: {err!r}"))
    try:
        size = _artifact_bytes(candidate_uri)
        checks.append(Check("size", bool(size <= max_size_bytes), size, max_size_bytes,
                            f"artifacts {size:,} B of a {max_size_bytes:,} B budget"))
    except Exception as err:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not measure the size: {err!r}"))
    try:
        measure = measure_latency if measure_latency is not None else _time_one_prediction
        ms = float(measure(candidate, X.iloc[[0]])) * 1000.0
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms per row of a {max_latency_ms} ms budget"))
    except Exception as err:  # noqa: BLE001
        checks.append(Check("latency", False, None, max_latency_ms, f"could not measure latency: {err!r}"))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register a passing candidate and move the aliases."""
    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError("refusing to promote: " + (", ".join(failed) if failed else "the report has no checks"))
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _read_champion(client, model_name)
    current = None if current is None else str(current)
    if current != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {current}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
