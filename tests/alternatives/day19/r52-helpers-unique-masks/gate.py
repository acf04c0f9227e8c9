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
import numbers
import pathlib
import statistics
import tempfile
import time
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


def _check_metric(metric) -> None:
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def _check_rows(X, y) -> np.ndarray:
    labels = np.asarray(y)
    if len(X) == 0:
        raise ValueError("no rows to score")
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} rows")
    return labels


def _score(model, X, labels, metric) -> float:
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    """The model's `metric` on the rows given: "roc_auc" from `predict_proba(X)[:, 1]`, or "accuracy"
    from `predict(X)`. Labels are matched to rows by position. An unknown metric, no rows, or a
    number of labels different from the number of rows raises ValueError."""
    _check_metric(metric)
    labels = _check_rows(X, y)
    return _score(model, X, labels, metric)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    """`{value: score}` for every distinct value of the column `slice_by`, each scored on its own
    rows only. A slice where the metric is undefined (ROC AUC with one class) is left out. A missing
    column raises KeyError; a missing value in it ValueError; otherwise as `score`."""
    _check_metric(metric)
    if slice_by not in X.columns:
        raise KeyError(slice_by)
    labels = _check_rows(X, y)
    column = X[slice_by]
    if column.isna().any():
        raise ValueError(f"column {slice_by!r} has missing values")
    result = {}
    for value in pd.unique(column):
        rows = (column == value).to_numpy()
        part = labels[rows]
        if metric == "roc_auc" and len(np.unique(part)) < 2:
            continue
        result[_plain(value)] = _score(model, X[rows], part, metric)
    return result


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    """One message per column that is missing from the candidate, new in it, or of another type;
    each names its column (a type change names both types). Sorted by column; [] = compatible."""
    problems = []
    for column in sorted(set(champion) | set(candidate)):
        if column not in candidate:
            problems.append(f"column {column!r} ({champion[column]}) is missing from the candidate")
        elif column not in champion:
            problems.append(f"column {column!r} ({candidate[column]}) is new in the candidate")
        elif champion[column] != candidate[column]:
            problems.append(f"column {column!r} changed type: {champion[column]} in the champion, "
                            f"{candidate[column]} in the candidate")
    return problems


def _real(name, value, *, positive=False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number, not {value!r}")
    return value


_NO_CHAMPION = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _champion_version(client, model_name) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in _NO_CHAMPION:
            return None
        raise


def _client(tracking_uri):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _inputs(uri) -> dict[str, str] | None:
    from mlflow.models import get_model_info

    signature = get_model_info(uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def _failed(name, limit, exc) -> Check:
    return Check(name, False, None, limit, f"{name} could not be computed: {type(exc).__name__}: {exc}")


def _default_latency(model, row) -> float:
    model.predict(row)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    """Judge the model at `candidate_uri` against the version `champion` points at, on the held-out
    rows given: the five checks of the README's task 3, all of them, in the order of CHECKS.
    Reads the registry, never writes it."""
    _check_metric(metric)
    margin = _real("margin", margin)
    slice_tolerance = _real("slice_tolerance", slice_tolerance)
    if isinstance(max_size_bytes, np.integer):
        max_size_bytes = int(max_size_bytes)
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
    max_latency_ms = _real("max_latency_ms", max_latency_ms, positive=True)
    labels = _check_rows(X, y)
    if slice_by not in X.columns:
        raise KeyError(slice_by)

    import mlflow
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    champion = _champion_version(client, model_name)
    if champion is None and not first_deploy:
        raise LookupError(f"model {model_name!r} has no {CHAMPION!r} alias")
    try:
        candidate = mlflow.sklearn.load_model(candidate_uri)
    except (MlflowException, OSError) as exc:
        raise LookupError(f"no model at {candidate_uri!r}: {exc}") from exc

    checks = []
    if champion is None:
        checks.append(Check("metric", True, None, None, "first deploy: no champion to compare with"))
        checks.append(Check("slices", True, None, slice_tolerance, "first deploy: no champion to compare with"))
        checks.append(Check("signature", True, None, 0, "first deploy: no champion to compare with"))
    else:
        champion_uri = f"models:/{model_name}/{champion}"
        try:
            old = mlflow.sklearn.load_model(champion_uri)
            load_error = None
        except Exception as exc:  # noqa: BLE001 - another flavor, a broken artifact, ...
            old, load_error = None, exc
        # metric
        try:
            if load_error:
                raise load_error
            new_score = score(candidate, X, labels, metric)
            limit = score(old, X, labels, metric) + margin
            passed = new_score > limit
            checks.append(Check("metric", bool(passed), new_score, float(limit),
                                f"{metric} {new_score:.4f} {'>' if passed else '<='} champion's + margin {limit:.4f}"))
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("metric", None, exc))
        # slices
        try:
            if load_error:
                raise load_error
            new = slice_scores(candidate, X, labels, slice_by, metric)
            before = slice_scores(old, X, labels, slice_by, metric)
            drops = {key: before[key] - new[key] for key in before if key in new}
            if not drops:
                checks.append(Check("slices", True, None, slice_tolerance, "no slice could be scored for both"))
            else:
                worst = float(max(drops.values()))
                bad = [f"{key!r} dropped {drop:.4f} ({before[key]:.4f} -> {new[key]:.4f})"
                       for key, drop in drops.items() if drop > slice_tolerance]
                passed = worst <= slice_tolerance
                message = (f"worst slice drop {worst:.4f}, tolerance {slice_tolerance}"
                           + (": " + "; ".join(bad) if bad else ""))
                checks.append(Check("slices", bool(passed), worst, slice_tolerance, message))
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("slices", slice_tolerance, exc))
        # signature
        try:
            before_sig = _inputs(champion_uri)
            new_sig = _inputs(candidate_uri)
            if before_sig is None or new_sig is None:
                which = "champion" if before_sig is None else "candidate"
                checks.append(Check("signature", False, None, 0, f"the {which} was logged without a signature"))
            else:
                problems = signature_problems(before_sig, new_sig)
                checks.append(Check("signature", not problems, len(problems), 0,
                                    f"{len(problems)} signature problem(s)" +
                                    (": " + "; ".join(problems) if problems else "")))
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("signature", 0, exc))
    # size
    try:
        with tempfile.TemporaryDirectory(prefix="gate-size-") as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=tmp)
            size = sum(path.stat().st_size for path in pathlib.Path(local).rglob("*") if path.is_file())
        checks.append(Check("size", size <= max_size_bytes, int(size), max_size_bytes,
                            f"{size} bytes, budget {max_size_bytes} bytes"))
    except Exception as exc:  # noqa: BLE001
        checks.append(_failed("size", max_size_bytes, exc))
    # latency
    try:
        row = X.iloc[[0]]
        seconds = (measure_latency or _default_latency)(candidate, row)
        ms = float(seconds) * 1000
        passed = ms <= max_latency_ms
        checks.append(Check("latency", bool(passed), ms, max_latency_ms,
                            f"{ms:.3f} ms for one prediction, budget {max_latency_ms} ms"))
    except Exception as exc:  # noqa: BLE001
        checks.append(_failed("latency", max_latency_ms, exc))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    """Register the report's candidate as a new version of `model_name`, point `previous-champion`
    at the version it replaces (if any) and `champion` at it; return the new version. A report that
    did not pass raises ValueError; one judged against another champion than the current RuntimeError."""
    if not report.passed:
        failed = [check.name for check in report.checks if not check.passed]
        raise ValueError(f"the gate did not pass; failed checks: {', '.join(failed) or 'no checks ran'}")
    import mlflow

    client = _client(tracking_uri)
    current = _champion_version(client, model_name)
    if current != report.champion:
        raise RuntimeError(f"the report was judged against champion {report.champion!r}, "
                           f"but {model_name!r}'s champion is now {current!r}: gate again")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return version
