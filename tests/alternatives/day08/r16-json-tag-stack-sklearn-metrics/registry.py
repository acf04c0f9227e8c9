"""Day 08: a model registry workflow with aliases: challenger, champion, rollback.

Contract (the tests check exactly this; README tasks 1–5 explain each part):
- `evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc")` -> the metric of
  the model at `model_uri` on the given rows (`accuracy`, `f1` or `roc_auc`).
- `register_challenger(tracking_uri, run_id, model_name)` -> the new version (str),
  which now carries the alias `challenger`.
- `promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc",
  margin=0.01)` -> True when `champion` moved to the challenger's version.
- `compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc")` ->
  one row per version, best score first.
- `rollback(tracking_uri, model_name)` -> the version `champion` points at again.

Use aliases, never the deprecated stages. Import mlflow inside the functions.
"""

from __future__ import annotations

import numpy as np


HISTORY_TAG = "champion_history"
METRICS = ("accuracy", "f1", "roc_auc")


def _client(tracking_uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _alias_version(client, name: str, alias: str) -> str | None:
    aliases = client.get_registered_model(name).aliases
    return str(aliases[alias]) if alias in aliases else None


def _history(client, name: str) -> list[str]:
    import json

    raw = client.get_registered_model(name).tags.get(HISTORY_TAG)
    return [str(v) for v in json.loads(raw)] if raw else []


def _save_history(client, name: str, history: list[str]) -> None:
    import json

    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def _versions(client, name: str) -> list:
    """Every version of `name`: all pages of an unfiltered search, kept by exact name (a filter string has
    no escape for quotes, and a name may hold both ' and ")."""
    versions, page = [], client.search_model_versions()
    while True:
        versions.extend(mv for mv in page if mv.name == name)
        if not page.token:
            return versions
        page = client.search_model_versions(page_token=page.token)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    """Load the model at `model_uri` (any MLflow model URI) and score it on the given rows."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
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
    return float(f1_score(y_test, predicted))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    """Register the model logged by `run_id` as a new version of `model_name`; alias it `challenger`."""
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


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    """Move `champion` to the challenger's version when it scores more than `margin` higher."""
    import math

    if math.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be zero or more, not {margin!r}")
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


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    """One row per version, best score first; equal scores by version number."""
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
    """Point `champion` back at the version that was champion before the current one."""
    client = _client(tracking_uri)
    history = _history(client, model_name)
    champion = _alias_version(client, model_name, "champion") if history else None
    if champion is not None and champion != history[-1]:
        # `champion` was moved by hand after the last promotion: go back to the last recorded one, keep the stack.
        client.set_registered_model_alias(model_name, "champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    history.pop()
    client.set_registered_model_alias(model_name, "champion", history[-1])
    _save_history(client, model_name, history)
    return history[-1]
