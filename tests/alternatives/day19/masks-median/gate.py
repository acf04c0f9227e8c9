"""Day 19 — answer A: boolean masks, a registry helper that scopes MLflow's URIs, median latency."""

from __future__ import annotations

import math
import operator
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
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


def _validate(X, y, metric):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    labels = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    labels = _validate(X, y, metric)
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(labels[rows])) < 2:
            continue
        result[operator.index(value) if isinstance(value, np.integer) else bool(value) if isinstance(value, np.bool_) else value] = score(model, X[rows], labels[rows], metric)
    return result


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


@contextmanager
def _store(tracking_uri: str):
    """MLflow's process-wide URIs point at `tracking_uri` inside, and back afterwards."""
    import mlflow

    before_tracking, before_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    finally:
        mlflow.set_tracking_uri(before_tracking)
        mlflow.set_registry_uri(before_registry)


def _champion_version(client, model_name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _signature(uri: str) -> dict | None:
    from mlflow.models import get_model_info

    signature = get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row) -> float:
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _failed(name, limit, exc) -> Check:
    return Check(name, False, None, limit, f"could not be computed: {type(exc).__name__}: {exc}")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    for option, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{option} must be a finite number >= 0, not {value!r}")
    if not isinstance(max_size_bytes, int) or isinstance(max_size_bytes, bool) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    with _store(tracking_uri) as client:
        champion = _champion_version(client, model_name)
        if champion is None and not first_deploy:
            raise LookupError(f"model {model_name!r} has no '{CHAMPION}' alias (pass first_deploy=True)")
        try:
            candidate = mlflow.sklearn.load_model(candidate_uri)
        except Exception as exc:
            raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

        checks = []
        if champion is None:
            checks += [Check("metric", True, None, None, "first deploy: no champion to compare with"),
                       Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"),
                       Check("signature", True, None, 0, "first deploy: no champion to compare with")]
        else:
            champion_uri = f"models:/{model_name}/{champion}"
            old = _load_champion(champion_uri)
            try:
                base = score(old, X, labels, metric)
                limit = base + margin
                try:
                    value = score(candidate, X, labels, metric)
                    checks.append(Check("metric", bool(value > limit), value, limit,
                                        f"candidate {metric} {value:.4f} vs champion {base:.4f} + margin "
                                        f"{margin} = {limit:.4f}"))
                except Exception as exc:
                    checks.append(_failed("metric", limit, exc))
            except Exception as exc:
                checks.append(_failed("metric", None, exc))
            try:
                before = slice_scores(old, X, labels, slice_by, metric)
                after = slice_scores(candidate, X, labels, slice_by, metric)
                drops = {s: before[s] - after[s] for s in before if s in after}
                worst = max(drops.values()) if drops else None
                regressed = sorted((s for s, d in drops.items() if d > slice_tolerance), key=str)
                detail = ", ".join(f"{s}: {before[s]:.4f} -> {after[s]:.4f}" for s in regressed)
                checks.append(Check("slices", not regressed, worst, slice_tolerance,
                                    f"worst drop {worst} (tolerance {slice_tolerance}); regressed: "
                                    f"{detail or 'none'}"))
            except Exception as exc:
                checks.append(_failed("slices", slice_tolerance, exc))
            try:
                theirs, ours = _signature(champion_uri), _signature(candidate_uri)
                if ours is None or theirs is None:
                    checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
                else:
                    problems = signature_problems(theirs, ours)
                    checks.append(Check("signature", not problems, len(problems), 0,
                                        f"{len(problems)} problem(s): " + "; ".join(problems)))
            except Exception as exc:
                checks.append(_failed("signature", 0, exc))

        try:
            with tempfile.TemporaryDirectory() as scratch:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
                size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
            checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                                f"{size} bytes (budget {max_size_bytes})"))
        except Exception as exc:
            checks.append(_failed("size", max_size_bytes, exc))

        try:
            seconds = (measure_latency or _default_latency)(candidate, X.iloc[[0]])
            ms = float(seconds) * 1000
            checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                                f"{ms:.3f} ms for one row (budget {max_latency_ms} ms)"))
        except Exception as exc:
            checks.append(_failed("latency", max_latency_ms, exc))

    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate did not pass: failed checks {failed}")
    with _store(tracking_uri) as client:
        current = _champion_version(client, model_name)
        if current != report.champion:
            raise RuntimeError(f"the report was judged against champion {report.champion!r}, "
                               f"but champion is {current!r} now: run the gate again")
        version = str(mlflow.register_model(report.candidate, model_name).version)
        if current is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, current)
        client.set_registered_model_alias(model_name, CHAMPION, version)
        return version


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
