"""Day 08, answer A: fluent mlflow API, champion history as a JSON list in a registered-model tag."""

from __future__ import annotations

import json
import math

import numpy as np

HISTORY_TAG = "champion_history"
_METRICS = ("accuracy", "f1", "roc_auc")


def _point_at(uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _alias_version(client, name: str, alias: str) -> str | None:
    aliases = client.get_registered_model(name).aliases
    return str(aliases[alias]) if alias in aliases else None


def _history(client, name: str) -> list[str]:
    raw = client.get_registered_model(name).tags.get(HISTORY_TAG)
    return [str(v) for v in json.loads(raw)] if raw else []


def _save_history(client, name: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc") -> float:
    from sklearn import metrics as skm

    if not isinstance(metric, str) or metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {_METRICS}")
    import mlflow

    _point_at(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    predicted = model.predict(X_test)
    if metric == "accuracy":
        return float(skm.accuracy_score(y_test, predicted))
    return float(skm.f1_score(y_test, predicted, pos_label=1))


def register_challenger(tracking_uri, run_id, model_name) -> str:
    import mlflow

    _point_at(tracking_uri)
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    version = str(mlflow.register_model(logged[0].model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01) -> bool:
    if margin is None or math.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be a number zero or more, not {margin!r}")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    client = _client(tracking_uri)
    challenger = _alias_version(client, model_name, "challenger")
    if challenger is None:
        raise LookupError(f"{model_name} has no challenger")
    champion = _alias_version(client, model_name, "champion")
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
    _save_history(client, model_name, history)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    by_version: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    found, token = [], None
    while True:  # unfiltered and paged: no filter string can quote a name that holds both ' and "
        page = client.search_model_versions(page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    for mv in found:
        if mv.name != model_name:
            continue
        version = str(mv.version)
        rows.append({"version": version, "aliases": sorted(by_version.get(version, [])), "run_id": mv.run_id,
                     "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test, metric)})
    rows.sort(key=lambda r: (-r["score"], int(r["version"])))
    return rows


def rollback(tracking_uri, model_name) -> str:
    client = _client(tracking_uri)
    history = _history(client, model_name)
    champion = _alias_version(client, model_name, "champion") if history else None
    if champion is not None and champion != history[-1]:
        # Someone moved `champion` by hand: the last recorded champion came before it.
        client.set_registered_model_alias(model_name, "champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    history.pop()
    _save_history(client, model_name, history)
    client.set_registered_model_alias(model_name, "champion", history[-1])
    return history[-1]
