"""Day 19 gate: a table of check functions, groupby for slices, timeit for latency."""

from __future__ import annotations

import math
import numbers
import shutil
import tempfile
import timeit
import os
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


def _labels(X, y, metric):
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    y = pd.Series(y).to_numpy() if not isinstance(y, pd.Series) else y.to_numpy()
    if X.shape[0] == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{X.shape[0]} rows and {y.shape[0]} labels")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    y = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, y))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _labels(X, y, metric)
    column = X[slice_by]  # KeyError when missing
    if column.isna().to_numpy().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    positions = pd.RangeIndex(len(X))
    groups = pd.Series(positions, index=positions).groupby(column.to_numpy() if not isinstance(
        column.dtype, pd.CategoricalDtype) else column.reset_index(drop=True), sort=False, observed=True)
    out = {}
    for key, idx in groups.indices.items():
        part = y[idx]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        out[bool(key) if isinstance(key, np.bool_) else int(key) if isinstance(key, numbers.Integral) and not isinstance(key, bool) else key] = float(_SCORERS[metric](model, X.iloc[idx], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def one(column):
        old, new = champion.get(column), candidate.get(column)
        if new is None:
            return f"{column}: {old} column missing from the candidate"
        if old is None:
            return f"{column}: {new} column is new (callers do not send it)"
        return None if old == new else f"{column}: type {old} -> {new}"

    return [m for m in map(one, sorted({*champion, *candidate})) if m is not None]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _read_champion(client, name):
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    missing = {databricks_pb2.ErrorCode.Name(databricks_pb2.RESOURCE_DOES_NOT_EXIST),
               databricks_pb2.ErrorCode.Name(databricks_pb2.INVALID_PARAMETER_VALUE)}
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as error:
        if error.error_code in missing:
            return None
        raise
    return f"{mv.version}"


def _timed(model, row) -> float:
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(1)
    number = 3
    return min(timer.repeat(repeat=3, number=number)) / number


def _failed(name, limit, error):
    return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    y = _labels(X, y, metric)
    for label, option in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_real(option) or option < 0:
            raise ValueError(f"{label}: {option!r}")
    if type(max_size_bytes) is bool or not isinstance(max_size_bytes, numbers.Integral) or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes: {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)
    if not _is_real(max_latency_ms) or not max_latency_ms > 0:
        raise ValueError(f"max_latency_ms: {max_latency_ms!r}")
    if slice_by not in X:
        raise KeyError(slice_by)

    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    champion = _read_champion(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"{model_name} has no {CHAMPION} alias (pass first_deploy=True for a first deploy)")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"{candidate_uri}: {error}") from error
    champion_uri = None if champion is None else f"models:/{model_name}/{champion}"
    loaded = {}

    def champ():
        if "model" not in loaded:
            loaded["model"] = mlflow.sklearn.load_model(champion_uri)
        return loaded["model"]

    def metric_check():
        value = score(candidate, X, y, metric)
        limit = score(champ(), X, y, metric) + float(margin)
        return Check("metric", value > limit, value, limit, f"{metric}: {value:.4f} vs needed > {limit:.4f}")

    def slices_check():
        new = slice_scores(candidate, X, y, slice_by, metric)
        old = slice_scores(champ(), X, y, slice_by, metric)
        drops = {k: old[k] - new[k] for k in old.keys() & new.keys()}
        tol = float(slice_tolerance)
        if not drops:
            return Check("slices", True, None, tol, "no slice could be scored")
        worst = max(drops.values())
        regressed = sorted((str(k) for k, d in drops.items() if d > tol))
        return Check("slices", worst <= tol, worst, tol,
                     f"worst drop {worst:.4f} > tolerance {tol}: regressed {regressed}" if regressed
                     else f"worst drop {worst:.4f} within {tol}")

    def columns(uri):
        info = mlflow.models.get_model_info(uri)
        if info.signature is None or info.signature.inputs is None:
            raise ValueError(f"{uri} was logged without a signature")
        return {c.name: c.type.name for c in info.signature.inputs.inputs}

    def signature_check():
        problems = signature_problems(columns(champion_uri), columns(candidate_uri))
        return Check("signature", len(problems) == 0, len(problems), 0,
                     "; ".join(problems) or "0 problems: compatible")

    def size_check():
        tmp = tempfile.mkdtemp(prefix="gate-size-")
        try:
            root = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            total = 0
            for folder, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Check("size", total <= max_size_bytes, total, max_size_bytes,
                     f"{total} bytes of artifacts, budget {max_size_bytes} bytes")

    def latency_check():
        seconds = (measure_latency or _timed)(candidate, X.iloc[[0]])
        ms = float(seconds) * 1000.0
        return Check("latency", ms <= max_latency_ms, ms, float(max_latency_ms),
                     f"{ms:.3f} ms for one row, budget {max_latency_ms} ms")

    limits = {"metric": None, "slices": float(slice_tolerance), "signature": 0,
              "size": max_size_bytes, "latency": float(max_latency_ms)}
    plan = {"metric": metric_check, "slices": slices_check, "signature": signature_check,
            "size": size_check, "latency": latency_check}
    checks = []
    for name in CHECKS:
        if champion is None and name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, limits[name], "first deploy: nothing to compare with"))
            continue
        try:
            made = plan[name]()
            checks.append(Check(made.name, bool(made.passed), made.value, made.limit, made.message))
        except Exception as error:  # noqa: BLE001 - a check that cannot be computed fails alone
            checks.append(_failed(name, limits[name], error))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [c.name for c in report.checks if not c.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: failed checks {', '.join(failed) or '(no checks)'}")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    serving = _read_champion(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    new = mlflow.register_model(report.candidate, model_name)
    if serving:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new.version)
    return str(new.version)
