"""Day 08, style: explicit MlflowClient objects, history as a JSON stack in one registered-model tag."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager

import numpy as np

METRICS = ("accuracy", "f1", "roc_auc")
HISTORY_TAG = "champion_history"


def _client(uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def _pointed_at(uri):
    """Point MLflow's process URIs at `uri` for the block, then put back what was there."""
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service

    saved = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        _tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri = saved


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    from sklearn import metrics as m

    with _pointed_at(tracking_uri) as mlflow:
        model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        column = list(model.classes_).index(1)
        return float(m.roc_auc_score(y_test, model.predict_proba(X_test)[:, column]))
    predicted = model.predict(X_test)
    if metric == "accuracy":
        return float(m.accuracy_score(y_test, predicted))
    return float(m.f1_score(y_test, predicted, pos_label=1))


def _has_model(client, name) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    chosen = next((lm for lm in logged if lm.name == "model"), logged[0])
    if not _has_model(client, model_name):
        client.create_registered_model(model_name)
    version = client.create_model_version(model_name, source=chosen.artifact_location, run_id=run_id,
                                          model_id=chosen.model_id)
    client.set_registered_model_alias(model_name, "challenger", version.version)
    return str(version.version)


def _all_versions(client):
    """The registry's versions, every page. No name filter: a name holding both ' and " fits in no filter
    string, so callers compare names."""
    token = None
    while True:
        page = client.search_model_versions(page_token=token)
        yield from page
        token = page.token
        if not token:
            break


def _alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def _history(client, name) -> list[str]:
    return [str(v) for v in json.loads(client.get_registered_model(name).tags.get(HISTORY_TAG, "[]"))]


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if math.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be a number zero or more, not {margin!r}")
    client = _client(tracking_uri)
    aliases = {a: str(v) for a, v in client.get_registered_model(model_name).aliases.items()} \
        if _has_model(client, model_name) else {}
    challenger = aliases.get("challenger")
    if challenger is None:
        raise LookupError(f"{model_name!r} has no challenger")
    champion = aliases.get("champion")
    if champion == challenger:
        return False
    if champion is not None:
        new = evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
        old = evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric)
        if not new - old > margin:
            return False
    history = _history(client, model_name)
    if champion is not None and history[-1:] != [champion]:
        history.append(champion)
    history.append(challenger)
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    alias_of: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        alias_of.setdefault(str(version), []).append(alias)
    rows = []
    for mv in _all_versions(client):
        if mv.name != model_name:
            continue
        version = str(mv.version)
        rows.append({"version": version, "aliases": sorted(alias_of.get(version, [])), "run_id": mv.run_id,
                     "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test, metric)})
    rows.sort(key=lambda r: (-r["score"], int(r["version"])))
    return rows


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    history = _history(client, model_name)
    champion = _alias(client, model_name, "champion")
    if history and champion is not None and champion != history[-1]:
        last_promoted = history[-1]  # champion moved by hand since: that one served before it
        client.set_registered_model_alias(model_name, "champion", last_promoted)
        return last_promoted
    if len(history) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion to roll back to")
    history.pop()
    previous = history[-1]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    return previous
