"""Day 08 answer: fluent MLflow API, champion history as a JSON stack in a registered-model tag."""

from __future__ import annotations

import json

import numpy as np

HISTORY_TAG = "champion_history"
_METRICS = ("accuracy", "f1", "roc_auc")


def _client(tracking_uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {_METRICS}")
    import mlflow
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    predicted = model.predict(X_test)
    if metric == "accuracy":
        return float(accuracy_score(y_test, predicted))
    return float(f1_score(y_test, predicted, pos_label=1))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    import mlflow

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = str(mlflow.register_model(logged[0].model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def _alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def _history(client, name) -> list[str]:
    raw = client.get_registered_model(name).tags.get(HISTORY_TAG)
    return [str(v) for v in json.loads(raw)] if raw else []


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if np.isnan(margin) or margin < 0:
        raise ValueError("margin must be a number, not negative")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    client = _client(tracking_uri)
    challenger = _alias(client, model_name, "challenger")
    if challenger is None:
        raise LookupError(f"{model_name} has no challenger")
    champion = _alias(client, model_name, "champion")
    if champion == challenger:
        return False
    if champion is not None:
        new = evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
        old = evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric)
        if not new > old + margin:
            return False
    history = _history(client, model_name)
    if champion is not None and (not history or history[-1] != champion):
        history.append(champion)
    history.append(challenger)
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def _versions(client, name) -> list:
    # The name is matched here, not in a filter string (which has no escape for ' and "), over all pages.
    pages = [client.search_model_versions()]
    while pages[-1].token:
        pages.append(client.search_model_versions(page_token=pages[-1].token))
    return [mv for page in pages for mv in page if mv.name == name]


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    alias_of: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        alias_of.setdefault(str(version), []).append(alias)
    rows = []
    for mv in _versions(client, model_name):
        version = str(mv.version)
        rows.append({"version": version, "aliases": sorted(alias_of.get(version, [])), "run_id": mv.run_id,
                     "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test, metric)})
    return sorted(rows, key=lambda r: (-r["score"], int(r["version"])))


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    history = _history(client, model_name)
    champion = _alias(client, model_name, "champion")
    if history and champion is not None and champion != history[-1]:
        client.set_registered_model_alias(model_name, "champion", history[-1])  # hand-moved: last promoted
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    history.pop()
    client.set_registered_model_alias(model_name, "champion", history[-1])
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    return history[-1]
