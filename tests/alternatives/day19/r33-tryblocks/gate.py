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
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score


def _check_xy(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    y = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows")
    if len(X) != len(y):
        raise ValueError(f"{len(y)} labels for {len(X)} rows")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    y = _check_xy(X, y, metric)
    if metric == "roc_auc":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(y, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _check_xy(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"missing values in {slice_by!r}")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        ys = y[rows]
        if metric == "roc_auc" and len(np.unique(ys)) < 2:
            continue
        key = value.item() if isinstance(value, np.generic) else value
        result[key] = score(model, X[rows], ys, metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    out = []
    for col in sorted(set(champion) | set(candidate)):
        if col not in candidate:
            out.append(f"column {col!r} ({champion[col]}) is missing from the candidate")
        elif col not in champion:
            out.append(f"column {col!r} ({candidate[col]}) is new in the candidate")
        elif champion[col] != candidate[col]:
            out.append(f"column {col!r} changed type: {champion[col]} in the champion, "
                       f"{candidate[col]} in the candidate")
    return out


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _champion_version(client, name):
    from mlflow.exceptions import MlflowException
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _signature(uri):
    import mlflow
    sig = mlflow.models.get_model_info(uri).signature
    if sig is None or sig.inputs is None:
        raise ValueError(f"{uri} has no signature")
    return {c.name: c.type.name for c in sig.inputs.inputs}


def _default_latency(model, row):
    model.predict(row)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    for label, v in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(v) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{label} must be a finite number >= 0, got {v!r}")
    if type(max_size_bytes) is not int or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, got {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, got {max_latency_ms!r}")
    y = _check_xy(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as e:
        raise LookupError(f"no model at {candidate_uri}: {e}") from e

    checks = []
    if champion is None:
        for name in ("metric", "slices", "signature"):
            checks.append(Check(name, True, None, None, "first deploy: nothing to compare with"))
    else:
        champ_uri = f"models:/{model_name}/{champion}"
        champ_model = None
        champ_err = None
        try:
            champ_model = mlflow.sklearn.load_model(champ_uri)
        except Exception as e:  # noqa: BLE001
            champ_err = e
        # metric
        try:
            if champ_err is not None:
                raise champ_err
            cand = score(candidate, X, y, metric)
            limit = score(champ_model, X, y, metric) + float(margin)
            ok = cand > limit
            checks.append(Check("metric", bool(ok), cand, limit,
                                f"candidate {metric} {cand:.4f} vs champion + margin {limit:.4f}"))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("metric", False, None, None, f"metric could not be computed: {e!r}"))
        # slices
        try:
            if champ_err is not None:
                raise champ_err
            cs = slice_scores(candidate, X, y, slice_by, metric)
            hs = slice_scores(champ_model, X, y, slice_by, metric)
            drops = {k: hs[k] - cs[k] for k in cs if k in hs}
            tol = float(slice_tolerance)
            if not drops:
                checks.append(Check("slices", True, None, tol, "no slice could be scored for both"))
            else:
                worst = max(drops.values())
                bad = {k: d for k, d in drops.items() if d > tol}
                msg = (f"worst drop {worst:.4f} (tolerance {tol}); regressed: "
                       + ", ".join(f"{k!r}: {hs[k]:.4f} -> {cs[k]:.4f}" for k in bad)) if bad else \
                      f"worst drop {worst:.4f} within tolerance {tol}"
                checks.append(Check("slices", bool(worst <= tol), float(worst), tol, msg))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("slices", False, None, float(slice_tolerance), f"slices could not be computed: {e!r}"))
        # signature
        try:
            problems = signature_problems(_signature(champ_uri), _signature(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problem(s): " + "; ".join(problems)))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"signature could not be compared: {e!r}"))

    # size
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            p = Path(local)
            size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        checks.append(Check("size", size <= max_size_bytes, int(size), int(max_size_bytes),
                            f"{size} bytes (budget {max_size_bytes})"))
    except Exception as e:  # noqa: BLE001
        checks.append(Check("size", False, None, int(max_size_bytes), f"size could not be measured: {e!r}"))
    # latency
    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        ok = (not math.isnan(ms)) and ms <= max_latency_ms
        checks.append(Check("latency", bool(ok), ms, float(max_latency_ms),
                            f"{ms:.3f} ms for one row (budget {max_latency_ms} ms)"))
    except Exception as e:  # noqa: BLE001
        checks.append(Check("latency", False, None, float(max_latency_ms), f"latency could not be measured: {e!r}"))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError(f"the gate did not pass: {', '.join(failed) or 'no checks'}")
    import mlflow
    from mlflow import MlflowClient
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"champion is {current}, the report was judged against {report.champion}")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
