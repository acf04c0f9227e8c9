"""Day 19 — answer B: factorize-and-split slices, a table of check methods on a gate object,
timeit for latency, the registry read through MlflowClient."""

from __future__ import annotations

import math
import os
import tempfile
import timeit
from dataclasses import dataclass
from numbers import Real
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


_SCORERS = {
    "roc_auc": lambda model, X, y: __import__("sklearn.metrics").metrics.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: __import__("sklearn.metrics").metrics.accuracy_score(y, model.predict(X)),
}


def _labels(X, y, metric) -> np.ndarray:
    if metric not in _SCORERS:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    y = np.asarray(y)
    if not len(X) or y.shape[0] != len(X):
        raise ValueError(f"{len(X)} rows and {y.shape[0]} labels: need the same number, at least one")
    return y


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    y = _labels(X, y, metric)
    return float(_SCORERS[metric](model, X, y))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    y = _labels(X, y, metric)
    column = X[slice_by]  # KeyError when it is not a column
    codes, values = pd.factorize(column, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"{int((codes < 0).sum())} rows have no value in {slice_by!r}")
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(codes, minlength=len(values)))[:-1])
    out = {}
    for code, positions in enumerate(groups):
        part = y[positions]
        if metric == "roc_auc" and part.min() == part.max():
            continue  # one class: ROC AUC has no value here
        out[values[code].item() if isinstance(values[code], np.generic) else values[code]] = score(model, X.iloc[positions], part, metric)
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    def problem(column):
        old, new = champion.get(column), candidate.get(column)
        if new is None:
            return f"{column}: missing from the candidate (the champion takes it as {old})"
        if old is None:
            return f"{column}: new in the candidate ({new}); the champion's callers never send it"
        if old != new:
            return f"{column}: type {old} in the champion but {new} in the candidate"
        return None

    found = (problem(column) for column in sorted(champion.keys() | candidate.keys()))
    return [message for message in found if message is not None]


def _plain_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _timed(model, row) -> float:
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(number=1)  # warm-up
    number = 3
    return min(timer.repeat(repeat=3, number=number)) / number


class _Gate:
    def __init__(self, client, name, candidate_uri, X, y, *, slice_by, metric, margin, slice_tolerance,
                 max_size_bytes, max_latency_ms, measure_latency):
        self.client, self.name, self.uri = client, name, candidate_uri
        self.X, self.y, self.slice_by, self.metric = X, y, slice_by, metric
        self.margin, self.tolerance = float(margin), float(slice_tolerance)  # a NumPy float as the float it holds
        self.max_size, self.max_ms = max_size_bytes, float(max_latency_ms)
        self.measure = measure_latency or _timed
        self.champion_version = None
        self.champion = self.candidate = None

    def limits(self):
        return {"metric": None, "slices": self.tolerance, "signature": 0, "size": self.max_size,
                "latency": self.max_ms}

    def run(self) -> list[Check]:
        checks = []
        for name in CHECKS:
            if self.champion is None and name in ("metric", "slices", "signature"):
                checks.append(Check(name, True, None, self.limits()[name], "first deploy: nothing to compare with"))
                continue
            try:
                checks.append(getattr(self, f"check_{name}")())
            except Exception as exc:  # a check that cannot be computed fails on its own
                checks.append(Check(name, False, None, self.limits()[name], f"{name} failed to compute: {exc!r}"))
        return checks

    def check_metric(self):
        old = score(self.champion, self.X, self.y, self.metric)
        new = score(self.candidate, self.X, self.y, self.metric)
        limit = old + self.margin
        return Check("metric", bool(new > limit), new, limit, f"{self.metric}: {new:.4f} against {old:.4f}+{self.margin}")

    def check_slices(self):
        old = slice_scores(self.champion, self.X, self.y, self.slice_by, self.metric)
        new = slice_scores(self.candidate, self.X, self.y, self.slice_by, self.metric)
        drops = pd.Series({k: old[k] - new[k] for k in old.keys() & new.keys()}, dtype=float)
        worst = float(drops.max()) if len(drops) else None
        bad = drops[drops > self.tolerance].sort_values(ascending=False)
        text = "; ".join(f"{k} dropped {d:.4f} ({old[k]:.4f} to {new[k]:.4f})" for k, d in bad.items())
        return Check("slices", bad.empty, worst, self.tolerance,
                     f"worst drop {worst}, tolerance {self.tolerance}" + (f"; regressed: {text}" if text else ""))

    def check_signature(self):
        from mlflow.models import Model

        def columns(uri):
            signature = Model.load(uri).signature
            return None if signature is None else {c.name: c.type.name for c in signature.inputs.inputs}

        old = columns(f"models:/{self.name}/{self.champion_version}")
        new = columns(self.uri)
        if old is None or new is None:
            return Check("signature", False, None, 0, "no signature logged: compatibility unknown")
        problems = signature_problems(old, new)
        return Check("signature", not problems, len(problems), 0, "; ".join(problems) or "compatible")

    def check_size(self):
        import mlflow

        with tempfile.TemporaryDirectory() as scratch:
            root = mlflow.artifacts.download_artifacts(artifact_uri=self.uri, dst_path=scratch)
            total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)
        return Check("size", total <= self.max_size, total, self.max_size, f"{total} of {self.max_size} bytes")

    def check_latency(self):
        ms = float(self.measure(self.candidate, self.X.iloc[[0]])) * 1000.0
        return Check("latency", bool(ms <= self.max_ms), ms, self.max_ms, f"{ms} ms per row, budget {self.max_ms} ms")


def _point_at(tracking_uri):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _current_champion(client, name) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the registry is unreachable: not the same as no champion
        return None  # no such registered model yet
    return None if CHAMPION not in aliases else str(aliases[CHAMPION])


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    import mlflow

    bad = [n for n, v in (("margin", margin), ("slice_tolerance", slice_tolerance)) if not _plain_number(v) or v < 0]
    if type(max_size_bytes) is not int or max_size_bytes < 1:
        bad.append("max_size_bytes")
    if not _plain_number(max_latency_ms) or max_latency_ms <= 0:
        bad.append("max_latency_ms")
    if bad:
        raise ValueError(f"invalid options: {bad}")
    y = _labels(X, y, metric)
    if slice_by not in X:
        raise KeyError(f"slice_by {slice_by!r} is not a column of X")

    gate = _Gate(_point_at(tracking_uri), model_name, candidate_uri, X, y, slice_by=slice_by, metric=metric,
                 margin=margin, slice_tolerance=slice_tolerance, max_size_bytes=max_size_bytes,
                 max_latency_ms=max_latency_ms, measure_latency=measure_latency)
    gate.champion_version = _current_champion(gate.client, model_name)
    if gate.champion_version is None and not first_deploy:
        raise LookupError(f"{model_name} has no champion alias; is this the first deploy?")
    try:
        gate.candidate = mlflow.sklearn.load_model(candidate_uri)
    except Exception as exc:
        raise LookupError(f"cannot load the candidate {candidate_uri}: {exc}") from exc
    if gate.champion_version is not None:
        gate.champion = _load_champion(f"models:/{model_name}/{gate.champion_version}")
    return GateReport(candidate_uri, gate.champion_version, gate.run())


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    failed = [c.name for c in report.checks if not c.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: the gate failed on {', '.join(failed) or 'no checks'}")
    client = _point_at(tracking_uri)
    judged, now = report.champion, _current_champion(client, model_name)
    if judged != now:
        raise RuntimeError(f"stale report: judged against {judged}, champion is {now}")
    new = mlflow.register_model(report.candidate, model_name).version
    if now:
        client.set_registered_model_alias(model_name, PREVIOUS, now)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return f"{new}"


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
