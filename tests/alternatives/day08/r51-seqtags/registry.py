"""Day 08 answer: client-first, history as one numbered registered-model tag per promotion."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

PREFIX = "champion.history."


def _label_metric(fn):
    return lambda model, X, y: fn(y, model.predict(X))


def _scorers():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        "accuracy": _label_metric(accuracy_score),
        "f1": _label_metric(lambda y, p: f1_score(y, p, pos_label=1)),
        "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }


@contextmanager
def _pointed_at(uri: str):
    """Point MLflow's process-wide URIs at `uri` for a block, then put back what was there."""
    import mlflow

    saved = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _version_of(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _entries(client, name: str) -> list[tuple[int, str]]:
    """(sequence number, version) for every recorded champion, oldest first."""
    tags = client.get_registered_model(name).tags
    return sorted((int(key[len(PREFIX):]), str(value)) for key, value in tags.items() if key.startswith(PREFIX))


def _push(client, name: str, entries: list[tuple[int, str]], version: str) -> None:
    number = entries[-1][0] + 1 if entries else 1
    client.set_registered_model_tag(name, f"{PREFIX}{number:06d}", version)
    entries.append((number, version))


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorers = _scorers()
    if not isinstance(metric, str) or metric not in scorers:
        raise ValueError(f"metric must be one of {sorted(scorers)}, not {metric!r}")
    with _pointed_at(tracking_uri) as mlflow_client:
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(model_uri)
    return float(scorers[metric](model, X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    outputs = client.get_run(run_id).outputs
    model_ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    if not model_ids:
        raise LookupError(f"run {run_id} has no logged model")
    logged = client.get_logged_model(model_ids[0])
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    with _pointed_at(tracking_uri) as inner:
        created = inner.create_model_version(model_name, source=logged.model_uri, run_id=run_id,
                                             model_id=logged.model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:
        raise ValueError(f"margin must be zero or more, not {margin!r}")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    client = _client(tracking_uri)
    challenger = _version_of(client, model_name, "challenger")
    if challenger is None:
        raise LookupError(f"{model_name!r} has no 'challenger'")
    champion = _version_of(client, model_name, "champion")
    if challenger == champion:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        if not scores[challenger] - margin > scores[champion]:
            return False
    entries = _entries(client, model_name)
    if champion is not None and (not entries or entries[-1][1] != champion):
        _push(client, model_name, entries, champion)
    _push(client, model_name, entries, challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def _all_versions(client, name: str):
    token = None
    while True:
        page = client.search_model_versions(page_token=token)
        yield from (v for v in page if v.name == name)
        token = page.token
        if not token:
            return


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    aliases = client.get_registered_model(model_name).aliases
    table = []
    for v in _all_versions(client, model_name):
        version = str(v.version)
        table.append({
            "version": version,
            "aliases": sorted(a for a, target in aliases.items() if str(target) == version),
            "run_id": v.run_id,
            "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test, metric),
        })
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: ties keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    entries = _entries(client, model_name)
    champion = _version_of(client, model_name, "champion")
    if entries and champion is not None and champion != entries[-1][1]:
        target = entries[-1][1]
    elif len(entries) >= 2:
        client.delete_registered_model_tag(model_name, f"{PREFIX}{entries[-1][0]:06d}")
        target = entries[-2][1]
    else:
        raise LookupError(f"{model_name!r} has no earlier champion")
    client.set_registered_model_alias(model_name, "champion", target)
    return target
