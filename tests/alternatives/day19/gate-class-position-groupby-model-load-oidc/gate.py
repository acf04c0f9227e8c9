"""Day 19 gate: a Gate class does the work; the module functions delegate to it."""

from __future__ import annotations

import numbers
import os
import tempfile
import timeit
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


class _Scorer:
    def __init__(self, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
        self.metric = metric

    @staticmethod
    def labels(X, y) -> np.ndarray:
        labels = np.array(list(y)) if not hasattr(y, "__array__") else np.asarray(y)
        if X.shape[0] == 0 or X.shape[0] != labels.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {X.shape[0]} rows")
        return labels

    def __call__(self, model, X, labels) -> float:
        if self.metric == "accuracy":
            return float(np.mean(np.asarray(model.predict(X)) == labels))
        return float(skm.roc_auc_score(labels, model.predict_proba(X)[:, 1]))

    def by_slice(self, model, X, labels, slice_by) -> dict:
        column = X[slice_by]
        if column.isna().to_numpy().any():
            raise ValueError(f"rows without a value of {slice_by!r}")
        positions = pd.Series(np.arange(len(X)))
        out = {}
        for key, where in positions.groupby(column.to_numpy(), sort=False):
            idx = where.to_numpy()
            part = labels[idx]
            if self.metric == "roc_auc" and np.unique(part).size < 2:
                continue
            out[key.item() if isinstance(key, np.generic) else key] = self(model, X.iloc[idx], part)
        return out


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    scorer = _Scorer(metric)
    return scorer(model, X, scorer.labels(X, y))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    scorer = _Scorer(metric)
    return scorer.by_slice(model, X, scorer.labels(X, y), slice_by)


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    keyed = []
    for column in champion:
        if column not in candidate:
            keyed.append((column, f"{column}: missing from the candidate (was {champion[column]})"))
        elif candidate[column] != champion[column]:
            keyed.append((column, f"{column}: type {champion[column]} -> {candidate[column]}"))
    for column in candidate:
        if column not in champion:
            keyed.append((column, f"{column}: new in the candidate ({candidate[column]})"))
    return [message for _, message in sorted(keyed)]


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))


def _timed(model, row) -> float:
    timer = timeit.Timer(lambda: model.predict(row))
    timer.timeit(1)
    number = 3
    return min(timer.repeat(repeat=3, number=number)) / number


class Gate:
    def __init__(self, tracking_uri, model_name, *, metric, margin, slice_tolerance, max_size_bytes,
                 max_latency_ms, measure_latency, first_deploy):
        self.scorer = _Scorer(metric)
        for name, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
            if not _real(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if type(max_size_bytes) is not int or max_size_bytes < 1:
            raise ValueError(f"max_size_bytes must be a positive int, not {max_size_bytes!r}")
        if not _real(max_latency_ms) or not max_latency_ms > 0:
            raise ValueError(f"max_latency_ms must be a positive number, not {max_latency_ms!r}")
        self.tracking_uri, self.model_name = tracking_uri, model_name
        self.margin, self.tolerance = float(margin), float(slice_tolerance)  # a NumPy float as the float it holds
        self.max_size, self.max_latency = max_size_bytes, float(max_latency_ms)
        self.measure = measure_latency or _timed
        self.first_deploy = first_deploy

    def _client(self):
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.tracking.MlflowClient(self.tracking_uri, self.tracking_uri)

    def champion_version(self):
        from mlflow.exceptions import MlflowException

        try:
            model = self._client().get_registered_model(self.model_name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        version = model.aliases.get(CHAMPION)
        return None if version is None else str(version)

    @staticmethod
    def inputs(uri) -> dict:
        from mlflow.models import Model

        signature = Model.load(uri).signature
        if signature is None:
            raise LookupError("no signature was logged with this model")
        return {spec.name: spec.type.name for spec in signature.inputs.inputs}

    @staticmethod
    def _failed(name, limit, error) -> Check:
        return Check(name, False, None, limit, f"{name} could not be computed: {type(error).__name__}: {error}")

    def run(self, candidate_uri, X, labels, slice_by) -> GateReport:
        import mlflow
        from mlflow.exceptions import MlflowException

        version = self.champion_version()
        if version is None and not self.first_deploy:
            raise LookupError(f"{self.model_name!r} has no champion")
        try:
            candidate = mlflow.sklearn.load_model(candidate_uri)
        except (MlflowException, OSError) as error:
            raise LookupError(f"{candidate_uri} is no model: {error}") from error
        if version is None:
            checks = [Check("metric", True, None, None, "first deploy"),
                      Check("slices", True, None, self.tolerance, "first deploy"),
                      Check("signature", True, None, 0, "first deploy")]
        else:
            uri = f"models:/{self.model_name}/{version}"
            checks = [self._metric(uri, candidate, X, labels),
                      self._slices(uri, candidate, X, labels, slice_by),
                      self._signature(uri, candidate_uri)]
        checks += [self._size(candidate_uri), self._latency(candidate, X)]
        return GateReport(candidate_uri, version, checks)

    def _metric(self, uri, candidate, X, labels):
        import mlflow

        try:
            limit = self.scorer(mlflow.sklearn.load_model(uri), X, labels) + self.margin
            value = self.scorer(candidate, X, labels)
        except Exception as error:  # noqa: BLE001
            return self._failed("metric", None, error)
        return Check("metric", bool(value > limit), value, limit, f"candidate {value:.4f}, needed more than {limit:.4f}")

    def _slices(self, uri, candidate, X, labels, slice_by):
        import mlflow

        try:
            old = self.scorer.by_slice(mlflow.sklearn.load_model(uri), X, labels, slice_by)
            new = self.scorer.by_slice(candidate, X, labels, slice_by)
        except Exception as error:  # noqa: BLE001
            return self._failed("slices", self.tolerance, error)
        drops = pd.Series({k: old[k] - new[k] for k in old.keys() & new.keys()}, dtype=float)
        if drops.empty:
            return Check("slices", True, None, self.tolerance, "no slice could be compared")
        worst = float(drops.max())
        bad = drops[drops > self.tolerance]
        return Check("slices", bool(worst <= self.tolerance), worst, self.tolerance,
                     f"worst drop {worst:.4f} (tolerance {self.tolerance}); regressed: "
                     + ", ".join(f"{k}={d:.4f}" for k, d in bad.items()))

    def _signature(self, uri, candidate_uri):
        try:
            problems = signature_problems(self.inputs(uri), self.inputs(candidate_uri))
        except Exception as error:  # noqa: BLE001
            return self._failed("signature", 0, error)
        return Check("signature", len(problems) == 0, len(problems), 0, " | ".join(problems) or "0 problems")

    def _size(self, candidate_uri):
        import mlflow

        try:
            with tempfile.TemporaryDirectory() as scratch:
                root = mlflow.artifacts.download_artifacts(artifact_uri=candidate_uri, dst_path=scratch)
                total = 0
                for folder, _, files in os.walk(root):
                    total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        except Exception as error:  # noqa: BLE001
            return self._failed("size", self.max_size, error)
        return Check("size", total <= self.max_size, total, self.max_size, f"{total} of {self.max_size} bytes")

    def _latency(self, candidate, X):
        try:
            ms = float(self.measure(candidate, X.iloc[[0]])) * 1000
        except Exception as error:  # noqa: BLE001
            return self._failed("latency", self.max_latency, error)
        return Check("latency", bool(ms <= self.max_latency), ms, self.max_latency,
                     f"{ms:.3f} ms of {self.max_latency} ms")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    gate = Gate(tracking_uri, model_name, metric=metric, margin=margin, slice_tolerance=slice_tolerance,
                max_size_bytes=max_size_bytes, max_latency_ms=max_latency_ms,
                measure_latency=measure_latency, first_deploy=first_deploy)
    labels = _Scorer.labels(X, y)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")
    return gate.run(candidate_uri, X, labels, slice_by)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    import mlflow

    failed = [check.name for check in report.checks if not check.passed]
    if failed or not report.checks:
        raise ValueError(f"refusing to promote: failed checks {failed or 'none run'}")
    gate = Gate.__new__(Gate)
    gate.tracking_uri, gate.model_name = tracking_uri, model_name
    client = gate._client()
    current = gate.champion_version()
    if current != report.champion:
        raise RuntimeError(f"stale report: judged against {report.champion}, champion is now {current}")
    new = str(mlflow.register_model(report.candidate, model_name).version)
    if current:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    return new
