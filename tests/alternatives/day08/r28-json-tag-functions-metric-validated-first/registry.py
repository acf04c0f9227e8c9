"""Registry workflow: functions, history as a JSON list in a registered-model tag."""

from __future__ import annotations

import json
import math

import numpy as np

HISTORY_TAG = "champion_history"
_METRICS = ("accuracy", "f1", "roc_auc")


def _client(uri):
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc"):
    if not isinstance(metric, str) or metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    import mlflow
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    _client(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    predicted = model.predict(X_test)
    if metric == "accuracy":
        return float(accuracy_score(y_test, predicted))
    return float(f1_score(y_test, predicted, pos_label=1))


def register_challenger(tracking_uri, run_id, model_name):
    import mlflow

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    version = mlflow.register_model(logged[0].model_uri, model_name).version
    client.set_registered_model_alias(model_name, "challenger", str(version))
    return str(version)


def _alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _history(client, name):
    raw = client.get_registered_model(name).tags.get(HISTORY_TAG)
    return [str(v) for v in json.loads(raw)] if raw else []


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01):
    if not margin >= 0:
        raise ValueError(f"margin must be a number >= 0, not {margin!r}")
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
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc"):
    client = _client(tracking_uri)
    alias_of = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        alias_of.setdefault(str(version), []).append(alias)
    rows = []
    pages = [client.search_model_versions()]  # no name filter: it cannot quote a name holding ' and " both
    while pages[-1].token:
        pages.append(client.search_model_versions(page_token=pages[-1].token))
    for mv in (mv for page in pages for mv in page):
        if mv.name != model_name:
            continue
        v = str(mv.version)
        rows.append({"version": v, "aliases": sorted(alias_of.get(v, [])), "run_id": mv.run_id,
                     "score": evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)})
    return sorted(rows, key=lambda r: (-r["score"], int(r["version"])))


def rollback(tracking_uri, model_name):
    client = _client(tracking_uri)
    history = _history(client, model_name)
    champion = _alias(client, model_name, "champion")
    if history and champion not in (None, history[-1]):  # hand-moved champion
        client.set_registered_model_alias(model_name, "champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    history.pop()
    client.set_registered_model_alias(model_name, "champion", history[-1])
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    return history[-1]
