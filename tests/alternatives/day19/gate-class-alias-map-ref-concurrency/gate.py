"""Day 19: a model validation gate in front of the MLflow registry's `champion` alias."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import timeit
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


def _metric_fn(metric):
    from sklearn import metrics

    scorers = {
        "roc_auc": lambda model, X, y: metrics.roc_auc_score(y, model.predict_proba(X)[:, 1]),
        "accuracy": lambda model, X, y: metrics.accuracy_score(y, model.predict(X)),
    }
    try:
        return scorers[metric]
    except (KeyError, TypeError):
        raise ValueError(f"metric must be one of {sorted(scorers)}, got {metric!r}") from None


def _labels(X, y):
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    labels = np.asarray(list(y) if not hasattr(y, "__array__") else y).reshape(-1)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {labels.shape[0]} labels")
    return labels


def score(model, X: pd.DataFrame, y, metric: str = "roc_auc") -> float:
    scorer = _metric_fn(metric)
    labels = _labels(X, y)
    return float(scorer(model, X, labels))


def slice_scores(model, X: pd.DataFrame, y, slice_by: str, metric: str = "roc_auc") -> dict:
    scorer = _metric_fn(metric)
    labels = _labels(X, y)
    column = X[slice_by]  # KeyError for a missing column
    if column.isna().any():
        raise ValueError(f"{column.isna().sum()} rows have no {slice_by!r} value")
    out = {}
    for key, positions in column.groupby(column, sort=False).indices.items():
        part = labels[positions]
        if metric == "roc_auc" and np.unique(part).size < 2:
            continue  # undefined with one class
        out[int(key) if pd.api.types.is_integer(key) else bool(key) if pd.api.types.is_bool(key) else key] = float(scorer(model, X.iloc[positions], part))
    return out


def signature_problems(champion: Mapping[str, str], candidate: Mapping[str, str]) -> list[str]:
    messages = {}
    for name, kind in champion.items():
        if name not in candidate:
            messages[name] = f"column '{name}' ({kind}) is missing from the candidate"
        elif candidate[name] != kind:
            messages[name] = f"column '{name}' changed type: {kind} in the champion, {candidate[name]} in the candidate"
    for name, kind in candidate.items():
        if name not in champion:
            messages[name] = f"column '{name}' ({kind}) is new in the candidate"
    return [messages[name] for name in sorted(messages)]


@contextlib.contextmanager
def _pointed_at(uri):
    """MLflow's process-wide URIs on `uri` for the duration, then put back."""
    import mlflow

    before_tracking, before_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(before_tracking)
        mlflow.set_registry_uri(before_registry)


def _champion_version(client, model_name):
    """The version `champion` names, or None if the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = model.aliases.get(CHAMPION)
    return None if version is None else str(version)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _time_one_prediction(model, row, repeat=7):
    model.predict(row)
    return min(timeit.repeat(lambda: model.predict(row), repeat=repeat, number=1))


class _Gate:
    def __init__(self, mlflow, model_name, candidate_uri, X, y, slice_by, metric, margin, tolerance):
        self.mlflow, self.name, self.candidate_uri = mlflow, model_name, candidate_uri
        self.X, self.y, self.slice_by, self.metric = X, y, slice_by, metric
        self.margin, self.tolerance = margin, tolerance

    def guarded(self, name, limit, compute):
        try:
            return compute()
        except Exception as error:  # noqa: BLE001 - a check that cannot be computed fails alone
            return Check(name, False, None, limit, f"could not compute {name}: {error!r}")

    def metric_check(self, cand, champ):
        ours = score(cand, self.X, self.y, self.metric)
        theirs = score(champ, self.X, self.y, self.metric)
        limit = theirs + self.margin
        return Check("metric", bool(ours > limit), ours, limit,
                     f"{self.metric}: candidate {ours:.4f}, champion {theirs:.4f} + margin {self.margin} = {limit:.4f}")

    def slices_check(self, cand, champ):
        ours = slice_scores(cand, self.X, self.y, self.slice_by, self.metric)
        theirs = slice_scores(champ, self.X, self.y, self.slice_by, self.metric)
        both = [k for k in theirs if k in ours]
        if not both:
            return Check("slices", True, None, self.tolerance, "no slice could be scored for both models")
        drops = pd.Series({k: theirs[k] - ours[k] for k in both})
        bad = drops[drops > self.tolerance]
        text = f"worst drop {drops.max():.4f} (tolerance {self.tolerance})"
        if len(bad):
            text += "; regressed: " + ", ".join(f"{k!r} {theirs[k]:.4f} -> {ours[k]:.4f}" for k in bad.index)
        return Check("slices", bool(drops.max() <= self.tolerance), float(drops.max()), self.tolerance, text)

    def _inputs(self, uri):
        signature = self.mlflow.models.get_model_info(uri).signature
        if signature is None:
            raise ValueError(f"{uri} was logged without a signature")
        return {col.name: col.type.name for col in signature.inputs.inputs}

    def signature_check(self, champion_uri):
        problems = signature_problems(self._inputs(champion_uri), self._inputs(self.candidate_uri))
        return Check("signature", not problems, len(problems), 0,
                     "compatible" if not problems else f"{len(problems)} problems: " + " | ".join(problems))

    def size_check(self, limit):
        with tempfile.TemporaryDirectory() as scratch:
            root = self.mlflow.artifacts.download_artifacts(artifact_uri=self.candidate_uri, dst_path=scratch)
            total = 0
            for folder, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return Check("size", total <= limit, total, limit, f"{total} bytes of artifacts (budget {limit})")

    def latency_check(self, cand, measure, limit):
        ms = float(measure(cand, self.X.iloc[[0]])) * 1000.0
        return Check("latency", bool(ms <= limit), ms, limit, f"{ms:.3f} ms per prediction (budget {limit} ms)")


def run_gate(tracking_uri: str, model_name: str, candidate_uri: str, X: pd.DataFrame, y, *,
             slice_by: str, metric: str = "roc_auc", margin: float = 0.01, slice_tolerance: float = 0.05,
             max_size_bytes: int = 100_000_000, max_latency_ms: float = 50.0,
             measure_latency: Callable[[object, pd.DataFrame], float] | None = None,
             first_deploy: bool = False) -> GateReport:
    from mlflow.exceptions import MlflowException

    _metric_fn(metric)
    for label, value in (("margin", margin), ("slice_tolerance", slice_tolerance)):
        if not _is_number(value) or value < 0:
            raise ValueError(f"{label} must be a finite number >= 0: {value!r}")
    if isinstance(max_size_bytes, bool) or not isinstance(max_size_bytes, int) or max_size_bytes < 1:
        raise ValueError(f"max_size_bytes must be a positive int: {max_size_bytes!r}")
    if not _is_number(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive finite number: {max_latency_ms!r}")
    y = _labels(X, y)
    if slice_by not in X:
        raise KeyError(f"no column {slice_by!r}")

    with _pointed_at(tracking_uri) as mlflow:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        champion = _champion_version(client, model_name)
        if champion is None and not first_deploy:
            raise LookupError(f"{model_name!r} has no {CHAMPION} alias (pass first_deploy=True for the first one)")
        try:
            candidate = mlflow.sklearn.load_model(candidate_uri)
        except MlflowException as error:
            raise LookupError(f"cannot load candidate {candidate_uri!r}: {error}") from error

        gate = _Gate(mlflow, model_name, candidate_uri, X, y, slice_by, metric, margin, slice_tolerance)
        if champion is None:
            checks = [Check(n, True, None, None, "first deploy: nothing to compare with")
                      for n in ("metric", "slices", "signature")]
        else:
            champion_uri = f"models:/{model_name}/{champion}"
            holder = {}

            def champ():
                if "model" not in holder:
                    holder["model"] = mlflow.sklearn.load_model(champion_uri)
                return holder["model"]

            checks = [
                gate.guarded("metric", None, lambda: gate.metric_check(candidate, champ())),
                gate.guarded("slices", slice_tolerance, lambda: gate.slices_check(candidate, champ())),
                gate.guarded("signature", 0, lambda: gate.signature_check(champion_uri)),
            ]
        checks.append(gate.guarded("size", max_size_bytes, lambda: gate.size_check(max_size_bytes)))
        checks.append(gate.guarded("latency", max_latency_ms,
                                   lambda: gate.latency_check(candidate, measure_latency or _time_one_prediction,
                                                              max_latency_ms)))
    return GateReport(candidate=candidate_uri, champion=champion, checks=checks)


def promote(tracking_uri: str, model_name: str, report: GateReport) -> str:
    failed = [c.name for c in report.checks if not c.passed]
    if not report.passed:
        raise ValueError("refusing to promote: " + (", ".join(failed) + " failed" if failed else "no checks ran"))
    with _pointed_at(tracking_uri) as mlflow:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        serving = _champion_version(client, model_name)
        if serving != report.champion:
            raise RuntimeError(f"{model_name}: champion is {serving}, the report was judged against {report.champion}")
        new = str(mlflow.register_model(report.candidate, model_name).version)
        if serving is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, serving)
        client.set_registered_model_alias(model_name, CHAMPION, new)
        return new
