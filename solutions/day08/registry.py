"""Day 08: a model registry workflow with aliases: challenger, champion, rollback.

Contract (the tests check exactly this):
- `evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc")` -> the metric of
  the model at `model_uri` on the given rows (`accuracy`, `f1` or `roc_auc`).
- `register_challenger(tracking_uri, run_id, model_name)` -> the new version (str),
  which now carries the alias `challenger`.
- `promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc",
  margin=0.01)` -> True when `champion` moved to the challenger's version.
- `compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc")` ->
  one row per version, best score first.
- `rollback(tracking_uri, model_name)` -> the version `champion` points at again.
"""

from __future__ import annotations

import json

import numpy as np

CHALLENGER = "challenger"
CHAMPION = "champion"
HISTORY_TAG = "champion_history"  # JSON list of versions that held `champion`, oldest first
METRICS = ("accuracy", "f1", "roc_auc")


def _client(tracking_uri: str):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    import mlflow
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    _client(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    if metric == "roc_auc":
        scores = model.predict_proba(X_test)[:, 1] if hasattr(model, "predict_proba") else model.decision_function(X_test)
        return float(roc_auc_score(y_test, scores))
    predicted = model.predict(X_test)
    return float(accuracy_score(y_test, predicted) if metric == "accuracy" else f1_score(y_test, predicted))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    import mlflow

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'")
    if not logged:
        raise LookupError(f"run {run_id} logged no model to register")
    version = mlflow.register_model(logged[0].model_uri, model_name).version
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return str(version)


def _alias_version(client, model_name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def _history(client, model_name: str) -> list[str]:
    tags = client.get_registered_model(model_name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def _set_champion(client, model_name: str, version: str, history: list[str]) -> None:
    client.set_registered_model_alias(model_name, CHAMPION, version)
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:  # also refuses NaN, for which every comparison is False
        raise ValueError(f"margin must be zero or more, not {margin}")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    client = _client(tracking_uri)
    challenger = _alias_version(client, model_name, CHALLENGER)
    if challenger is None:
        raise LookupError(f"{model_name} has no {CHALLENGER!r} alias to promote")
    champion = _alias_version(client, model_name, CHAMPION)
    if champion == challenger:
        return False
    if champion is not None:
        # Both on the same rows: a run's own logged metric may come from other data.
        new = evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
        old = evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric)
        if not new > old + margin:
            return False
    history = _history(client, model_name)
    if champion is not None and (not history or history[-1] != champion):
        history.append(champion)
    _set_champion(client, model_name, challenger, [*history, challenger])
    client.delete_registered_model_alias(model_name, CHALLENGER)
    return True


def _versions(client, model_name: str) -> list:
    # A filter string has no escape for a quote, and a name may hold both ' and ", so the name
    # goes in no filter: list every version, a page at a time, and keep this model's by its exact name.
    versions, token = [], None
    while True:
        page = client.search_model_versions(page_token=token)
        versions += [version for version in page if version.name == model_name]
        token = page.token
        if not token:
            return versions


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    # search_model_versions leaves `aliases` empty; the registered model has them all.
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(model_name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for version in _versions(client, model_name):
        rows.append({
            "version": str(version.version),
            "aliases": sorted(aliases.get(str(version.version), [])),
            "run_id": version.run_id,
            "score": evaluate(tracking_uri, f"models:/{model_name}/{version.version}", X_test, y_test, metric),
        })
    return sorted(rows, key=lambda row: (-row["score"], int(row["version"])))


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    history = _history(client, model_name)
    current = _alias_version(client, model_name, CHAMPION)
    # Moved by hand since the last promotion? Then the last recorded champion served before it.
    if current is None or not history or current == history[-1]:
        if len(history) < 2:
            raise LookupError(f"{model_name} has no earlier champion to roll back to")
        history.pop()
    _set_champion(client, model_name, history[-1], history)
    return history[-1]
