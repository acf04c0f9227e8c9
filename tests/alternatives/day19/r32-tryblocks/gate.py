"""Day 19 gate: straightforward style, one try block per check."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

METRICS = ("accuracy", "roc_auc")
CHECKS = ("metric", "slices", "signature", "size", "latency")
CHAMPION = "champion"
PREVIOUS = "previous-champion"
NO_SUCH = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


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
        raise ValueError(f"unknown metric {metric!r}")
    labels = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows")
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def _score(model, X, labels, metric):
    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    labels = _validate(X, y, metric)
    return _score(model, X, labels, metric)


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"missing values in {slice_by!r}")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        if metric == "roc_auc" and len(np.unique(labels[rows])) < 2:
            continue
        result[value.item() if isinstance(value, (np.integer, np.bool_)) else value] = _score(model, X[rows], labels[rows], metric)
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


def _nonneg(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


def _champion_version(client, model_name):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if error.error_code in NO_SUCH:
            return None
        raise


def _inputs(uri):
    import mlflow

    signature = mlflow.models.get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _default_latency(model, row):
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    _nonneg("margin", margin)
    _nonneg("slice_tolerance", slice_tolerance)
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    if (isinstance(max_latency_ms, bool) or not isinstance(max_latency_ms, (int, float))
            or not math.isfinite(max_latency_ms) or max_latency_ms <= 0):
        raise ValueError(f"max_latency_ms must be a positive finite number, not {max_latency_ms!r}")
    labels = _validate(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = _champion_version(client, model_name)
    if version is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no champion alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except MlflowException as error:
        raise LookupError(f"no model at {candidate_uri!r}: {error}") from error

    checks = []
    if version is None:
        checks.append(Check("metric", True, None, float(margin), "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, float(slice_tolerance), "first deploy: no champion"))
        checks.append(Check("signature", True, None, 0, "first deploy: no champion"))
    else:
        champion_uri = f"models:/{model_name}/{version}"
        try:
            champ = mlflow.sklearn.load_model(champion_uri)
        except Exception as error:  # noqa: BLE001
            champ, champ_error = None, error
        # metric
        try:
            if champ is None:
                raise champ_error
            value = _score(candidate, X, labels, metric)
            limit = _score(champ, X, labels, metric) + margin
            checks.append(Check("metric", bool(value > limit), value, float(limit),
                                f"candidate {metric} {value:.4f}, champion + margin {limit:.4f}"))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("metric", False, None, None, f"could not compute: {error!r}"))
        # slices
        try:
            if champ is None:
                raise champ_error
            cand_s = slice_scores(candidate, X, labels, slice_by, metric)
            champ_s = slice_scores(champ, X, labels, slice_by, metric)
            drops = {k: champ_s[k] - cand_s[k] for k in champ_s if k in cand_s}
            if not drops:
                checks.append(Check("slices", True, None, float(slice_tolerance), "no slice could be scored"))
            else:
                worst = float(max(drops.values()))
                bad = {k: d for k, d in drops.items() if d > slice_tolerance}
                checks.append(Check("slices", bool(worst <= slice_tolerance), worst, float(slice_tolerance),
                                    f"worst drop {worst:.4f} (tolerance {slice_tolerance}); regressed: "
                                    + ", ".join(f"{k}: {d:.4f}" for k, d in bad.items())))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("slices", False, None, float(slice_tolerance), f"could not compute: {error!r}"))
        # signature
        try:
            champ_in = _inputs(champion_uri)
            cand_in = _inputs(candidate_uri)
            if champ_in is None or cand_in is None:
                checks.append(Check("signature", False, None, 0, "a model was logged without a signature"))
            else:
                problems = signature_problems(champ_in, cand_in)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} problems: " + "; ".join(problems)))
        except Exception as error:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"could not compute: {error!r}"))
    # size
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            size = sum(p.stat().st_size for p in Path(local).rglob("*") if p.is_file())
        checks.append(Check("size", size <= max_size_bytes, int(size), max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes}"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not compute: {error!r}"))
    # latency
    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, float(max_latency_ms),
                            f"{ms:.3f} ms, budget {max_latency_ms} ms"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("latency", False, None, float(max_latency_ms), f"could not compute: {error!r}"))
    return GateReport(candidate_uri, version, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    if not report.passed:
        failed = [c.name for c in report.checks if not c.passed]
        raise ValueError(f"the gate did not pass: failed checks {failed}")
    import mlflow
    from mlflow.tracking import MlflowClient

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
