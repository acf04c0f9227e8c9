"""Day 08: a model registry workflow with aliases: challenger, champion, rollback."""

from __future__ import annotations

import json
import math

import numpy as np

METRICS = ("accuracy", "f1", "roc_auc")
HISTORY_TAG = "champion_history"


def _point_at(tracking_uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    import mlflow
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    _point_at(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    predicted = model.predict(X_test)
    if metric == "accuracy":
        return float(accuracy_score(y_test, predicted))
    return float(f1_score(y_test, predicted))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    import mlflow

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    _point_at(tracking_uri)
    version = str(mlflow.register_model(logged[0].model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def _history(model) -> list[str]:
    return [str(v) for v in json.loads(model.tags.get(HISTORY_TAG, "[]"))]


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    margin = float(margin)
    if math.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be a number >= 0, not {margin!r}")
    client = _client(tracking_uri)
    model = client.get_registered_model(model_name)
    aliases = {alias: str(version) for alias, version in model.aliases.items()}
    challenger = aliases.get("challenger")
    if challenger is None:
        raise LookupError(f"{model_name!r} has no challenger")
    champion = aliases.get("champion")
    if champion == challenger:
        return False
    if champion is not None:
        new = evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
        old = evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric)
        if not (new - old > margin):
            return False
    history = _history(model)
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
    versions, token = [], None
    while True:
        page = client.search_model_versions(page_token=token) if token else client.search_model_versions()
        versions.extend(v for v in page if v.name == model_name)
        token = page.token
        if not token:
            break
    rows = [{"version": str(v.version), "aliases": sorted(alias_of.get(str(v.version), [])), "run_id": v.run_id,
             "score": evaluate(tracking_uri, f"models:/{model_name}/{v.version}", X_test, y_test, metric)}
            for v in versions]
    return sorted(rows, key=lambda r: (-r["score"], int(r["version"])))


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    model = client.get_registered_model(model_name)
    champion = model.aliases.get("champion")
    champion = None if champion is None else str(champion)
    history = _history(model)
    if champion is not None and history and champion != history[-1]:
        client.set_registered_model_alias(model_name, "champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion")
    history.pop()
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_alias(model_name, "champion", history[-1])
    return history[-1]
