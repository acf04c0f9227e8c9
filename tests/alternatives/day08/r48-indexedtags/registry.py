"""Day 08 answer B: explicit clients, process URIs restored, history as one tag per entry."""

from __future__ import annotations

import math
from contextlib import contextmanager
from numbers import Real

import numpy as np

_SCORERS = {"accuracy": "labels", "f1": "labels", "roc_auc": "proba"}
_LEN = "champion.history.length"
_ENTRY = "champion.history.{}"


@contextmanager
def _pointed_at(uri: str):
    """Point MLflow's process-wide URIs at `uri` while loading, and put them back afterwards."""
    import mlflow

    old_tracking, old_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(old_tracking)
        mlflow.set_registry_uri(old_registry)


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if metric not in _SCORERS or not isinstance(metric, str):
        raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}")
    from sklearn import metrics

    with _pointed_at(tracking_uri) as mlflow:
        estimator = mlflow.sklearn.load_model(model_uri)
    if _SCORERS[metric] == "proba":
        return float(metrics.roc_auc_score(y_test, estimator.predict_proba(X_test)[:, 1]))
    scorer = {"accuracy": metrics.accuracy_score, "f1": metrics.f1_score}[metric]
    return float(scorer(y_test, estimator.predict(X_test)))


def _exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name).name == name
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    if not outputs:
        raise LookupError(f"run {run_id} logged no model")
    model_id = outputs[-1].model_id
    if not _exists(client, model_name):
        client.create_registered_model(model_name)
    with _pointed_at(tracking_uri):  # the client resolves a models:/ source through the process URIs
        created = client.create_model_version(model_name, source=f"models:/{model_id}", run_id=run_id,
                                              model_id=model_id)
    client.set_registered_model_alias(model_name, "challenger", created.version)
    return str(created.version)


def _aliases(client, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def _read_history(client, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return [tags[_ENTRY.format(i)] for i in range(int(tags.get(_LEN, "0")))]


def _push(client, name: str, history: list[str], version: str) -> None:
    client.set_registered_model_tag(name, _ENTRY.format(len(history)), version)
    history.append(version)
    client.set_registered_model_tag(name, _LEN, str(len(history)))


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if isinstance(margin, bool) or not isinstance(margin, (Real, np.number)) or math.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be a number zero or more, not {margin!r}")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    if "challenger" not in aliases:
        raise LookupError(f"{model_name!r} has no 'challenger' alias")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if challenger == champion:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        if not scores[challenger] - scores[champion] > margin:
            return False
    history = _read_history(client, model_name)
    if champion is not None and (not history or history[-1] != champion):
        _push(client, model_name, history, champion)
    _push(client, model_name, history, challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def _all_versions(client, name: str):
    token = None
    while True:
        page = client.search_model_versions(max_results=200, page_token=token)
        yield from (v for v in page if v.name == name)
        token = page.token
        if not token:
            return


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    by_version: dict[str, list[str]] = {}
    for alias, version in _aliases(client, model_name).items():
        by_version.setdefault(version, []).append(alias)
    table = []
    for mv in _all_versions(client, model_name):
        v = str(mv.version)
        table.append({"version": v, "aliases": sorted(by_version.get(v, ())), "run_id": mv.run_id,
                      "score": evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)})
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: ties keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    history = _read_history(client, model_name)
    champion = _aliases(client, model_name).get("champion")
    if history and champion is not None and champion != history[-1]:
        target = history[-1]
    else:
        if len(history) < 2:
            raise LookupError(f"{model_name!r} has no earlier champion to return to")
        last = len(history) - 1
        client.set_registered_model_tag(model_name, _LEN, str(last))
        client.delete_registered_model_tag(model_name, _ENTRY.format(last))
        target = history[last - 1]
    client.set_registered_model_alias(model_name, "champion", target)
    return target
