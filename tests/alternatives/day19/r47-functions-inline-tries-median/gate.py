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
import numbers
import tempfile
import time
from pathlib import Path

import numpy as np

_NO_CHAMPION = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _check_metric(metric):
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")


def _labels(X, y):
    labels = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    _check_metric(metric)
    labels = _labels(X, y)
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    _check_metric(metric)
    labels = _labels(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    out = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        ys = labels[rows]
        if metric == "roc_auc" and len(np.unique(ys)) < 2:
            continue
        out[_py(value)] = score(model, X[rows], ys, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    problems = []
    for column in sorted(set(champion) | set(candidate)):
        if column not in candidate:
            problems.append(f"column '{column}' ({champion[column]}) is missing from the candidate")
        elif column not in champion:
            problems.append(f"column '{column}' ({candidate[column]}) is new in the candidate")
        elif champion[column] != candidate[column]:
            problems.append(f"column '{column}' changed type: {champion[column]} in the champion, "
                            f"{candidate[column]} in the candidate")
    return problems


def _real(name, value, *, positive=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number: {value}")
    return value


def _no_champion(error) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(error, MlflowException) and error.error_code in _NO_CHAMPION


def _champion_version(client, name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as error:
        if _no_champion(error):
            return None
        raise


def _input_columns(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        raise ValueError(f"{uri} was logged without an input signature")
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row):
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _failed(name, limit, error):
    return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    _check_metric(metric)
    margin = _real("margin", margin)
    slice_tolerance = _real("slice_tolerance", slice_tolerance)
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)
    max_latency_ms = _real("max_latency_ms", max_latency_ms, positive=True)
    labels = _labels(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"candidate {candidate_uri!r} resolves to no model: {error}") from error
    except OSError as error:
        raise LookupError(f"candidate {candidate_uri!r} resolves to no model: {error}") from error

    checks = []
    if champion is None:
        checks += [Check("metric", True, None, None, "first deploy: no champion to compare with"),
                   Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"),
                   Check("signature", True, None, 0, "first deploy: no champion to compare with")]
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            old = mlflow.sklearn.load_model(champion_uri)
            old_error = None
        except Exception as error:  # noqa: BLE001
            old, old_error = None, error
        # metric
        limit = None
        try:
            if old_error:
                raise old_error
            base = score(old, X, labels, metric)
            limit = base + margin
            value = score(candidate, X, labels, metric)
            checks.append(Check("metric", bool(value > limit), value, limit,
                                f"candidate {metric} {value:.4f} vs champion {base:.4f} + margin {margin} = {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("metric", limit, error))
        # slices
        try:
            if old_error:
                raise old_error
            before = slice_scores(old, X, labels, slice_by, metric)
            after = slice_scores(candidate, X, labels, slice_by, metric)
            drops = {k: before[k] - after[k] for k in before if k in after}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored for both"))
            else:
                worst = float(max(drops.values()))
                bad = {k: d for k, d in drops.items() if d > slice_tolerance}
                text = ", ".join(f"{k}: {before[k]:.4f} -> {after[k]:.4f} (drop {d:.4f})" for k, d in bad.items())
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                    f"worst drop {worst:.4f}, tolerance {slice_tolerance}"
                                    + (f"; regressed: {text}" if bad else "")))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("slices", slice_tolerance, error))
        # signature
        try:
            problems = signature_problems(_input_columns(champion_uri), _input_columns(candidate_uri))
            checks.append(Check("signature", not problems, len(problems), 0,
                                f"{len(problems)} problem(s)" + ("".join(f"; {p}" for p in problems))))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("signature", 0, error))
    # size
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
            size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, error))
    # latency
    try:
        measure = measure_latency or _default_latency
        ms = float(measure(candidate, X.iloc[[0]])) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                            f"{ms:.3f} ms for one row, budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, error))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError(f"the gate did not pass: failed checks {failed or 'none run'}")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"champion of {model_name!r} is {current!r} now, the report was judged against "
                           f"{report.champion!r}: gate again")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
