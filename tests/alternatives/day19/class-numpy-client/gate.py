"""Day 19 gate as an object with one method per check."""

from __future__ import annotations

import math
import shutil
import tempfile
import timeit
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
    name: str
    passed: bool
    value: float | None
    limit: float | None
    message: str


@dataclass(frozen=True)
class GateReport:
    candidate: str
    champion: str | None
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)


def _prepare(X, y, metric):
    if metric not in METRICS:
        raise ValueError("metric must be accuracy or roc_auc")
    labels = np.array(y).ravel()
    if len(X) < 1:
        raise ValueError("empty held-out set")
    if len(labels) != len(X):
        raise ValueError("labels and rows differ in number")
    return labels


def _raw(model, X, labels, metric):
    from sklearn.metrics import accuracy_score, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(labels, model.predict_proba(X)[:, 1]))
    return float(accuracy_score(labels, model.predict(X)))


def score(model, X, y, metric="roc_auc"):
    return _raw(model, X, _prepare(X, y, metric), metric)


def slice_scores(model, X, y, slice_by, metric="roc_auc"):
    labels = _prepare(X, y, metric)
    if slice_by not in X.columns:
        raise KeyError(f"no column {slice_by}")
    values = X[slice_by].to_numpy(dtype=object)
    if pd.isna(values).any():
        raise ValueError(f"column {slice_by} has missing values")
    out = {}
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    for value in seen:
        idx = np.flatnonzero(values == value)
        if metric == "roc_auc" and np.unique(labels[idx]).size < 2:
            continue
        out[value] = _raw(model, X.iloc[idx], labels[idx], metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    missing = [(c, f"missing column {c} (was {champion[c]})") for c in champion if c not in candidate]
    extra = [(c, f"unexpected column {c} ({candidate[c]})") for c in candidate if c not in champion]
    changed = [(c, f"column {c} type {champion[c]} -> {candidate[c]}")
               for c in champion if c in candidate and champion[c] != candidate[c]]
    return [text for _, text in sorted(missing + extra + changed)]


class _Gate:
    def __init__(self, champion_model, candidate_model, X, y, options):
        self.old, self.new, self.X, self.y, self.o = champion_model, candidate_model, X, y, options

    def metric(self):
        o = self.o
        limit = score(self.old, self.X, self.y, o["metric"]) + o["margin"]
        value = score(self.new, self.X, self.y, o["metric"])
        return Check("metric", bool(value > limit), value, limit, f"{o['metric']}={value:.4f}, needs > {limit:.4f}")

    def slices(self):
        o = self.o
        a = slice_scores(self.old, self.X, self.y, o["slice_by"], o["metric"])
        b = slice_scores(self.new, self.X, self.y, o["slice_by"], o["metric"])
        common = [k for k in a if k in b]
        drops = np.array([a[k] - b[k] for k in common])
        if drops.size == 0:
            return Check("slices", True, None, o["slice_tolerance"], "no comparable slice")
        bad = [f"{k} ({a[k]:.3f} to {b[k]:.3f})" for k, d in zip(common, drops) if d > o["slice_tolerance"]]
        return Check("slices", not bad, float(drops.max()), o["slice_tolerance"],
                     ("regressed: " + "; ".join(bad)) if bad else f"worst drop {drops.max():.4f}")


def _columns(uri):
    import mlflow

    sig = mlflow.models.get_model_info(uri).signature
    return None if sig is None else {c.name: c.type.name for c in sig.inputs.inputs}


def _size(uri):
    import mlflow

    folder = tempfile.mkdtemp()
    try:
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder))
        return sum(p.stat().st_size for p in path.glob("**/*") if p.is_file())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _default_latency(model, row):
    model.predict(row)
    return min(timeit.repeat(lambda: model.predict(row), number=1, repeat=5))


def _number(value, *, zero_ok):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        return False
    return value >= 0 if zero_ok else value > 0


def run_gate(tracking_uri, model_name, candidate_uri, X, y, *, slice_by, metric="roc_auc", margin=0.01,
             slice_tolerance=0.05, max_size_bytes=100_000_000, max_latency_ms=50.0,
             measure_latency: Callable | None = None, first_deploy=False) -> GateReport:
    import mlflow

    _prepare(X, y, metric)
    if not _number(margin, zero_ok=True) or not _number(slice_tolerance, zero_ok=True):
        raise ValueError("margin and slice_tolerance must be finite numbers >= 0")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes <= 0:
        raise ValueError("max_size_bytes must be a positive int")
    if not _number(max_latency_ms, zero_ok=False):
        raise ValueError("max_latency_ms must be a positive finite number")
    if slice_by not in X.columns:
        raise KeyError(f"no column {slice_by}")

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        aliases = {}
    champion = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    if champion is None and not first_deploy:
        raise LookupError(f"{model_name} has no champion")
    try:
        new = mlflow.sklearn.load_model(candidate_uri)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"cannot load {candidate_uri}") from exc

    options = dict(metric=metric, margin=margin, slice_tolerance=slice_tolerance, slice_by=slice_by)
    checks = []
    if champion is None:
        checks += [Check(n, True, None, None, "first deploy") for n in ("metric", "slices", "signature")]
    else:
        old = _load_champion(f"models:/{model_name}/{champion}")
        gate = _Gate(old, new, X, y, options)
        for name, limit in (("metric", None), ("slices", slice_tolerance)):
            try:
                checks.append(getattr(gate, name)())
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(name, False, None, limit, f"could not compute: {exc}"))
        try:
            a, b = _columns(f"models:/{model_name}/{champion}"), _columns(candidate_uri)
            if a is None or b is None:
                checks.append(Check("signature", False, None, 0, "no signature logged"))
            else:
                problems = signature_problems(a, b)
                checks.append(Check("signature", not problems, len(problems), 0, "; ".join(problems) or "ok"))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("signature", False, None, 0, f"could not compute: {exc}"))
    try:
        size = _size(candidate_uri)
        checks.append(Check("size", size <= max_size_bytes, size, max_size_bytes, f"{size} B"))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("size", False, None, max_size_bytes, f"could not compute: {exc}"))
    try:
        ms = 1000 * float((measure_latency or _default_latency)(new, X.iloc[[0]]))
        checks.append(Check("latency", bool(ms <= max_latency_ms), ms, max_latency_ms, f"{ms:.2f} ms"))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("latency", False, None, max_latency_ms, f"could not compute: {exc}"))
    return GateReport(candidate_uri, champion, checks)


def promote(tracking_uri, model_name, report):
    import mlflow

    failed = [c.name for c in report.checks if not c.passed]
    if failed or not report.checks:
        raise ValueError(f"not promoting {report.candidate}: failed {failed}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        aliases = {}
    current = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    if current != report.champion:
        raise RuntimeError("champion changed since the gate ran")
    version = str(mlflow.register_model(report.candidate, model_name).version)
    if current:
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
