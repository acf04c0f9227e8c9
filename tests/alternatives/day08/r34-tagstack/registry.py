"""Day 08, answer A: a JSON stack in a registered-model tag, fluent register_model."""

from __future__ import annotations

import json
import math

import numpy as np

METRICS = ("accuracy", "f1", "roc_auc")
HISTORY = "champion_history"


def _client(uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _alias(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc"):
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    import mlflow
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        y = np.asarray(y_test)
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(roc_auc_score(y, model.predict_proba(X_test)[:, 1]))
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
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = str(mlflow.register_model(logged[0].model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def _versions_of(client, name):
    # every page of an unfiltered search, this name only: a filter string cannot quote both ' and "
    out = []
    page = client.search_model_versions()
    while True:
        out += [mv for mv in page if mv.name == name]
        if not page.token:
            return out
        page = client.search_model_versions(page_token=page.token)


def _history(client, name):
    raw = client.get_registered_model(name).tags.get(HISTORY)
    return [str(v) for v in json.loads(raw)] if raw else []


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01):
    margin = float(margin)
    if math.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be a number zero or more, not {margin!r}")
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
        if not (new > old + margin):
            return False
    history = _history(client, model_name)
    if champion is not None and history[-1:] != [champion]:
        history.append(champion)
    history.append(challenger)
    client.set_registered_model_tag(model_name, HISTORY, json.dumps(history))
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc"):
    client = _client(tracking_uri)
    alias_of: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        alias_of.setdefault(str(version), []).append(alias)
    rows = []
    for mv in _versions_of(client, model_name):
        v = str(mv.version)
        rows.append({"version": v, "aliases": sorted(alias_of.get(v, [])), "run_id": mv.run_id,
                     "score": evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)})
    return sorted(rows, key=lambda r: (-r["score"], int(r["version"])))


def rollback(tracking_uri, model_name):
    client = _client(tracking_uri)
    history = _history(client, model_name)
    champion = _alias(client, model_name, "champion")
    if history and champion is not None and champion != history[-1]:  # moved by hand: back to the top, no pop
        client.set_registered_model_alias(model_name, "champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    history.pop()
    client.set_registered_model_tag(model_name, HISTORY, json.dumps(history))
    client.set_registered_model_alias(model_name, "champion", history[-1])
    return history[-1]
