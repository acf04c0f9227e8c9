"""Day 08 answer: the champion history is a stack of aliases `champion-h0`, `champion-h1`, ..."""

from __future__ import annotations

import contextlib
import re

import numpy as np

CHAMPION, CHALLENGER = "champion", "challenger"
_H = re.compile(r"^champion-h(\d+)$")


def _scorers():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
        "f1": lambda model, X, y: f1_score(y, model.predict(X), pos_label=1),
        "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }


def _scorer(metric):
    scorers = _scorers()
    if not isinstance(metric, str) or metric not in scorers:
        raise ValueError(f"metric must be one of {sorted(scorers)}, not {metric!r}")
    return scorers[metric]


@contextlib.contextmanager
def _process_uris(uri):
    """Point MLflow's process-wide URIs at `uri` while the block runs, then put them back."""
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    score = _scorer(metric)
    with _process_uris(tracking_uri) as mlflow:
        model = mlflow.sklearn.load_model(model_uri)
    return float(score(model, X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    client = _client(tracking_uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    found = [m for m in client.search_logged_models(experiment_ids=[experiment_id],
                                                    filter_string=f"source_run_id = '{run_id}'")
             if m.source_run_id == run_id]
    if not found:
        raise LookupError(f"run {run_id} has no logged model")
    logged = found[0]
    try:
        client.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        client.create_registered_model(model_name)
    with _process_uris(tracking_uri):
        version = client.create_model_version(model_name, source=logged.model_uri, run_id=run_id,
                                              model_id=logged.model_id)
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return str(version.version)


def _aliases(client, name) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def _stack(aliases: dict[str, str]) -> list[str]:
    """The recorded champions, oldest first."""
    slots = {int(m.group(1)): v for a, v in aliases.items() if (m := _H.match(a))}
    return [slots[i] for i in range(len(slots))]


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:  # NaN fails this too
        raise ValueError(f"margin must be a non-negative number, not {margin!r}")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    challenger, champion = aliases.get(CHALLENGER), aliases.get(CHAMPION)
    if challenger is None:
        raise LookupError(f"{model_name!r} has no {CHALLENGER!r}")
    if challenger == champion:
        return False
    if champion is not None:
        _scorer(metric)
        gain = (evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
                - evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric))
        if not gain > margin:
            return False
    stack = _stack(aliases)
    pushes = ([champion] if champion is not None and stack[-1:] != [champion] else []) + [challenger]
    for offset, version in enumerate(pushes):
        client.set_registered_model_alias(model_name, f"champion-h{len(stack) + offset}", version)
    client.set_registered_model_alias(model_name, CHAMPION, challenger)
    client.delete_registered_model_alias(model_name, CHALLENGER)
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    _scorer(metric)
    client = _client(tracking_uri)
    by_version: dict[str, list[str]] = {}
    for alias, version in _aliases(client, model_name).items():
        by_version.setdefault(version, []).append(alias)
    mine, token = [], None
    while True:
        page = client.search_model_versions(max_results=200, page_token=token)
        mine.extend(v for v in page if v.name == model_name)
        token = page.token
        if not token:
            break
    table = []
    for v in mine:
        version = str(v.version)
        table.append({
            "version": version,
            "aliases": sorted(by_version.get(version, ())),
            "run_id": v.run_id,
            "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test, metric),
        })
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: ties keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    stack, champion = _stack(aliases), aliases.get(CHAMPION)
    if stack and champion is not None and champion != stack[-1]:
        client.set_registered_model_alias(model_name, CHAMPION, stack[-1])
        return stack[-1]
    if len(stack) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion to roll back to")
    target = stack[-2]
    client.set_registered_model_alias(model_name, CHAMPION, target)
    client.delete_registered_model_alias(model_name, f"champion-h{len(stack) - 1}")
    return target
