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
import os
import shutil
import tempfile
import timeit

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
    "roc_auc": lambda m, X, y: skm.roc_auc_score(y, m.predict_proba(X)[:, 1]),
    "accuracy": lambda m, X, y: skm.accuracy_score(y, m.predict(X)),
}


def _labels(X, y, metric):
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, got {metric!r}")
    labels = pd.Series(y).to_numpy() if not isinstance(y, np.ndarray) else y
    if X.shape[0] == 0 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"need a label per row and at least one row: {X.shape[0]} rows, {labels.shape[0]} labels")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _labels(X, y, metric)
    keys = X[slice_by]  # KeyError when absent
    if keys.isna().to_numpy().any():
        raise ValueError(f"{slice_by!r} holds missing values")
    positions = pd.Series(np.arange(len(X)))
    groups = positions.groupby(keys.to_numpy(), sort=False, observed=True)
    out = {}
    for key, idx in groups:
        idx = idx.to_numpy()
        part = labels[idx]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue
        key = getattr(key, "item", lambda: key)()
        out[key] = score(model, X.iloc[idx], part, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    out = {}
    for col in champion.keys() - candidate.keys():
        out[col] = f"column '{col}' ({champion[col]}) is missing from the candidate"
    for col in candidate.keys() - champion.keys():
        out[col] = f"column '{col}' ({candidate[col]}) is new in the candidate"
    for col in champion.keys() & candidate.keys():
        if champion[col] != candidate[col]:
            out[col] = f"column '{col}' changed type: {champion[col]} in the champion, {candidate[col]} in the candidate"
    return [out[c] for c in sorted(out)]


def _finite_real(name, v, *, positive=False):
    ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_))
    if not ok:
        raise ValueError(f"{name}={v!r} is not a number")
    v = float(v)
    if v != v or v in (math.inf, -math.inf) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name}={v!r} is out of range")
    return v


def _alias(client, name):
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as err:
        if err.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    return str(mv.version)


def _timed(model, row):
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(1)
    n = 10
    return timer.timeit(n) / n


def _check(name, limit, fn):
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - every failure is a failed check
        return Check(name, False, None, limit, f"{name} failed: {type(err).__name__}: {err}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow

    margin = _finite_real("margin", margin)
    slice_tolerance = _finite_real("slice_tolerance", slice_tolerance)
    max_latency_ms = _finite_real("max_latency_ms", max_latency_ms, positive=True)
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes={max_size_bytes!r} is not a positive int")
    labels = _labels(X, y, metric)
    if slice_by not in X:
        raise KeyError(slice_by)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    version = _alias(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"{model_name!r}: no champion alias")
    try:
        cand = mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as err:
        raise LookupError(f"{candidate_uri!r} resolves to no model: {err}") from err

    checks = []
    if version is None:
        checks += [Check(n, True, None, None, "first deploy: no champion to compare with")
                   for n in ("metric", "slices", "signature")]
    else:
        champ_uri = f"models:/{model_name}/{version}"
        holder = {}

        def champ():
            if "m" not in holder:
                holder["m"] = mlflow.sklearn.load_model(champ_uri)
            return holder["m"]

        def metric_check():
            new = score(cand, X, labels, metric)
            old = score(champ(), X, labels, metric)
            return Check("metric", new > old + margin, new, old + margin,
                         f"{metric}: candidate {new:.4f}, champion {old:.4f}, needed > {old + margin:.4f}")

        def slices_check():
            new = slice_scores(cand, X, labels, slice_by, metric)
            old = slice_scores(champ(), X, labels, slice_by, metric)
            common = [k for k in new if k in old]
            if not common:
                return Check("slices", True, None, slice_tolerance, "no slice scored for both models")
            drop = {k: old[k] - new[k] for k in common}
            worst = max(drop.values())
            bad = [f"{k}: {old[k]:.4f} -> {new[k]:.4f} (drop {drop[k]:.4f})"
                   for k in common if drop[k] > slice_tolerance]
            return Check("slices", worst <= slice_tolerance, worst, slice_tolerance,
                         f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed slices: "
                         + ("; ".join(bad) if bad else "none"))

        def sig_check():
            sigs = []
            for uri in (champ_uri, candidate_uri):
                sig = mlflow.models.get_model_info(uri).signature
                if sig is None:
                    return Check("signature", False, None, 0, f"{uri} was logged without a signature")
                sigs.append({c.name: c.type.name for c in sig.inputs.inputs})
            problems = signature_problems(*sigs)
            return Check("signature", len(problems) == 0, len(problems), 0,
                         f"{len(problems)} problems: {problems}")

        checks.append(_check("metric", None, metric_check))
        checks.append(_check("slices", slice_tolerance, slices_check))
        checks.append(_check("signature", 0, sig_check))

    def size_check():
        tmp = tempfile.mkdtemp(prefix="gate-")
        try:
            root = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            total = 0
            for d, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Check("size", total <= max_size_bytes, total, max_size_bytes,
                     f"{total} bytes of artifacts, limit {max_size_bytes}")

    def latency_check():
        secs = (measure_latency or _timed)(cand, X.iloc[[0]])
        ms = float(secs) * 1000.0
        return Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                     f"{ms:.3f} ms per prediction, limit {max_latency_ms} ms")

    checks.append(_check("size", max_size_bytes, size_check))
    checks.append(_check("latency", max_latency_ms, latency_check))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    failed = [c.name for c in report.checks if not c.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: failed checks {failed or 'none ran'}")
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    serving = _alias(client, model_name)
    if serving != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is {serving}")
    new = mlflow.register_model(report.candidate, model_name).version
    if serving:
        client.set_registered_model_alias(model_name, PREVIOUS, serving)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return str(new)
