"""Day 19: a model validation gate in front of the MLflow registry's `champion` alias.

Style: plain if/elif scoring, pandas groupby positions for slices, one sorted loop for
signatures, a context manager that scopes MLflow's URIs, the MLmodel file for signatures,
and checks computed inline, each in its own try block.
"""

from __future__ import annotations

import math
import tempfile
import timeit
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
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


def _check_rows(X, labels, metric):
    if metric != "roc_auc" and metric != "accuracy":
        raise ValueError(f"metric must be 'roc_auc' or 'accuracy', not {metric!r}")
    if X.shape[0] < 1:
        raise ValueError("X has no rows")
    if X.shape[0] != labels.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {labels.shape[0]} labels")


def _score(model, X, labels, metric):
    from sklearn import metrics
    if metric == "roc_auc":
        return float(metrics.roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(metrics.accuracy_score(labels, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = pd.Series(y).to_numpy()
    _check_rows(X, labels, metric)
    return _score(model, X, labels, metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = pd.Series(y).to_numpy()
    _check_rows(X, labels, metric)
    column = X[slice_by]  # KeyError for a missing column
    if column.isna().sum() > 0:
        raise ValueError(f"{column.isna().sum()} rows have no {slice_by!r} value")
    result = {}
    for value, positions in column.reset_index(drop=True).groupby(column.to_numpy(), sort=False).indices.items():
        subset = labels[positions]
        if metric == "roc_auc" and len(set(subset.tolist())) < 2:
            continue
        if isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.bool_):
            value = bool(value)
        result[value] = _score(model, X.iloc[positions], subset, metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    problems = []
    for column in sorted({*champion.keys(), *candidate.keys()}):
        if column not in candidate:
            problems.append(f"column '{column}' ({champion[column]}) is missing from the candidate")
        elif column not in champion:
            problems.append(f"column '{column}' ({candidate[column]}) is new in the candidate")
        elif champion[column] != candidate[column]:
            problems.append(f"column '{column}' changed type: {champion[column]} in the champion, "
                            f"{candidate[column]} in the candidate")
    return problems


@contextmanager
def _using(tracking_uri):
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        return None


def _number(value):
    return type(value) in (int, float) or (isinstance(value, (np.integer, np.floating)))


def _inputs(uri):
    from mlflow.models import Model

    signature = Model.load(uri).signature
    if signature is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if not _number(margin) or not math.isfinite(margin) or margin < 0:
        raise ValueError(f"bad margin {margin!r}")
    if not _number(slice_tolerance) or not math.isfinite(slice_tolerance) or slice_tolerance < 0:
        raise ValueError(f"bad slice_tolerance {slice_tolerance!r}")
    if not (type(max_size_bytes) is int or isinstance(max_size_bytes, np.integer)) or max_size_bytes < 1:
        raise ValueError(f"bad max_size_bytes {max_size_bytes!r}")
    max_size_bytes = int(max_size_bytes)  # a NumPy integer is kept as the plain int it holds
    if not _number(max_latency_ms) or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"bad max_latency_ms {max_latency_ms!r}")
    margin, slice_tolerance, max_latency_ms = float(margin), float(slice_tolerance), float(max_latency_ms)
    labels = np.asarray(y)
    _check_rows(X, labels, metric)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")

    with _using(tracking_uri) as client:
        version = _champion_version(client, model_name)
        if version is None and not first_deploy:
            raise LookupError(f"{model_name} has no champion alias (pass first_deploy=True for the first one)")
        try:
            candidate = mlflow.sklearn.load_model(candidate_uri)
        except Exception as exc:  # noqa: BLE001
            raise LookupError(f"cannot load {candidate_uri}: {exc}") from exc

        checks = []
        if version is None:
            checks += [Check("metric", True, None, None, "first deploy: nothing to compare with"),
                       Check("slices", True, None, slice_tolerance, "first deploy: nothing to compare with"),
                       Check("signature", True, None, 0, "first deploy: nothing to compare with")]
        else:
            champion_uri = f"models:/{model_name}/{version}"
            try:
                champion = mlflow.sklearn.load_model(champion_uri)
            except Exception as exc:  # noqa: BLE001
                champion, champion_error = None, exc
            try:
                if champion is None:
                    raise champion_error
                baseline = _score(champion, X, labels, metric)
                value = _score(candidate, X, labels, metric)
                checks.append(Check("metric", bool(value > baseline + margin), value, baseline + margin,
                                    f"{metric}: candidate {value:.4f}, champion {baseline:.4f} + margin {margin}"))
            except Exception as exc:  # noqa: BLE001
                checks.append(Check("metric", False, None, None, f"metric not computed: {exc!r}"))
            try:
                if champion is None:
                    raise champion_error
                before = slice_scores(champion, X, labels, slice_by, metric)
                after = slice_scores(candidate, X, labels, slice_by, metric)
                common = [key for key in before if key in after]
                if common:
                    worst = max(before[key] - after[key] for key in common)
                    regressed = [f"{key} ({before[key]:.4f} -> {after[key]:.4f})" for key in common
                                 if before[key] - after[key] > slice_tolerance]
                    checks.append(Check("slices", bool(worst <= slice_tolerance), worst, slice_tolerance,
                                        f"worst drop {worst:.4f}, tolerance {slice_tolerance}; regressed: "
                                        f"{', '.join(regressed) if regressed else 'none'}"))
                else:
                    checks.append(Check("slices", True, None, slice_tolerance, "no slice to compare"))
            except Exception as exc:  # noqa: BLE001
                checks.append(Check("slices", False, None, slice_tolerance, f"slices not computed: {exc!r}"))
            try:
                old, new = _inputs(champion_uri), _inputs(candidate_uri)
                if old is None or new is None:
                    checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
                else:
                    problems = signature_problems(old, new)
                    checks.append(Check("signature", len(problems) == 0, len(problems), 0,
                                        f"{len(problems)} problem(s): {problems}"))
            except Exception as exc:  # noqa: BLE001
                checks.append(Check("signature", False, None, 0, f"signature not read: {exc!r}"))

        try:
            with tempfile.TemporaryDirectory() as scratch:
                root = Path(mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch))
                size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() \
                    else root.stat().st_size
            checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes,
                                f"{size} bytes (budget {max_size_bytes})"))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("size", False, None, max_size_bytes, f"size not measured: {exc!r}"))

        try:
            row = X.iloc[[0]]
            if measure_latency is None:
                candidate.predict(row)  # warm-up
                seconds = min(timeit.repeat(lambda: candidate.predict(row), repeat=5, number=1))
            else:
                seconds = measure_latency(candidate, row)
            ms = float(seconds) * 1000.0
            checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms,
                                f"{ms:.3f} ms per row (budget {max_latency_ms} ms)"))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("latency", False, None, max_latency_ms, f"latency not measured: {exc!r}"))

    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    if not report.passed:
        raise ValueError("refusing to promote; failed checks: "
                         + ", ".join(c.name for c in report.checks if not c.passed))
    with _using(tracking_uri) as client:
        current = _champion_version(client, model_name)
        if current != report.champion:
            raise RuntimeError(f"stale report: judged against {report.champion}, champion is {current}")
        new = mlflow.register_model(report.candidate, model_name).version
        if current is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, current)
        client.set_registered_model_alias(model_name, CHAMPION, new)
        return str(new)
