"""Day 08: a model registry workflow with aliases: challenger, champion, rollback."""

from __future__ import annotations

import json

import numpy as np

_METRICS = ("accuracy", "f1", "roc_auc")
_HISTORY = "champion_history"


def _client(tracking_uri):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    import mlflow
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    _client(tracking_uri)
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
    logged = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    version = str(mlflow.register_model(logged[0].model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def _alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _history(client, name) -> list[str]:
    return json.loads(client.get_registered_model(name).tags.get(_HISTORY, "[]"))


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if margin < 0 or np.isnan(margin):
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
    if champion is not None and history[-1:] != [champion]:
        history.append(champion)
    history.append(challenger)
    client.set_registered_model_tag(model_name, _HISTORY, json.dumps(history))
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
    while True:  # every page, unfiltered: a name holding both ' and " fits in no filter string
        page = client.search_model_versions(page_token=token)
        versions += page
        token = page.token
        if not token:
            break
    rows = []
    for mv in versions:
        if mv.name != model_name:
            continue
        version = str(mv.version)
        rows.append({"version": version, "aliases": sorted(alias_of.get(version, [])), "run_id": mv.run_id,
                     "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test, metric)})
    return sorted(rows, key=lambda r: (-r["score"], int(r["version"])))


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    history = _history(client, model_name)
    now = _alias(client, model_name, "champion")
    if history and now is not None and now != history[-1]:  # champion moved by hand: return to the last promoted
        client.set_registered_model_alias(model_name, "champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    history.pop()
    client.set_registered_model_alias(model_name, "champion", history[-1])
    client.set_registered_model_tag(model_name, _HISTORY, json.dumps(history))
    return history[-1]
