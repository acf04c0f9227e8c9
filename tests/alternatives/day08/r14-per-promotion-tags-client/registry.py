"""Day 08: a model registry workflow with aliases: challenger, champion, rollback.

Low-level client style: the registry is touched only through one MlflowClient, the
process-wide URIs are set only while a model loads (and restored afterwards), and the
champion history is one registered-model tag per promotion: `served.<n>` = version.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

_PREFIX = "served."


@contextmanager
def _uris(uri):
    import mlflow

    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)


def _client(uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _score(metric, y, proba):
    y = np.asarray(y)
    predicted = (proba >= 0.5).astype(int)
    if metric == "accuracy":
        return float(np.mean(predicted == y))
    if metric == "f1":
        tp = float(np.sum((predicted == 1) & (y == 1)))
        fp = float(np.sum((predicted == 1) & (y != 1)))
        fn = float(np.sum((predicted != 1) & (y == 1)))
        return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, proba))


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    import mlflow

    if metric not in {"accuracy": 1, "f1": 1, "roc_auc": 1}:
        raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}")
    with _uris(tracking_uri):
        model = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    if metric == "roc_auc":
        return _score(metric, y_test, model.predict_proba(X_test)[:, 1])
    y = np.asarray(y_test)
    predicted = np.asarray(model.predict(X_test))
    if metric == "accuracy":
        return float(np.mean(predicted == y))
    return _score("f1", y, predicted.astype(float))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    models = [m for m in client.search_logged_models([run.info.experiment_id])
              if m.source_run_id == run_id]
    if not models:
        raise LookupError(f"run {run_id} has no logged model")
    model = models[0]
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    mv = client.create_model_version(model_name, source=model.artifact_location, run_id=run_id, model_id=model.model_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return str(mv.version)


def _version_of(client, name, alias):
    aliases = client.get_registered_model(name).aliases
    return str(aliases[alias]) if alias in aliases else None


def _served(client, name) -> list[tuple[int, str]]:
    tags = client.get_registered_model(name).tags
    return sorted((int(k[len(_PREFIX):]), v) for k, v in tags.items() if k.startswith(_PREFIX))


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if margin < 0 or np.isnan(margin):
        raise ValueError(f"margin must be >= 0, not {margin}")
    client = _client(tracking_uri)
    challenger = _version_of(client, model_name, "challenger")
    if challenger is None:
        raise LookupError(f"no challenger for {model_name}")
    champion = _version_of(client, model_name, "champion")
    if champion == challenger:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        if not scores[challenger] - scores[champion] > margin:  # NaN is never an improvement
            return False
    served = _served(client, model_name)
    n = served[-1][0] if served else 0
    if champion is not None and (not served or served[-1][1] != champion):
        n += 1
        client.set_registered_model_tag(model_name, f"{_PREFIX}{n}", champion)
    client.set_registered_model_tag(model_name, f"{_PREFIX}{n + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    rows = []
    page = client.search_model_versions()  # unfiltered: no filter string quotes a name holding ' and " both
    while True:
        for mv in page:
            if mv.name != model_name:
                continue
            full = client.get_model_version(model_name, mv.version)  # a search leaves aliases empty
            rows.append({"version": str(mv.version), "aliases": sorted(full.aliases), "run_id": mv.run_id,
                         "score": evaluate(tracking_uri, f"models:/{model_name}/{mv.version}", X_test, y_test,
                                           metric)})
        if not page.token:
            break
        page = client.search_model_versions(page_token=page.token)
    rows.sort(key=lambda r: int(r["version"]))
    rows.sort(key=lambda r: r["score"], reverse=True)
    return rows


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    served = _served(client, model_name)
    champion = _version_of(client, model_name, "champion")
    if served and champion is not None and champion != served[-1][1]:  # set by hand since the last promotion
        client.set_registered_model_alias(model_name, "champion", served[-1][1])
        return served[-1][1]
    if len(served) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    previous = served[-2][1]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.delete_registered_model_tag(model_name, f"{_PREFIX}{served[-1][0]}")
    return previous
