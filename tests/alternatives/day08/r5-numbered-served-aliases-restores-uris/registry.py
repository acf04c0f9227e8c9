"""Day 08: history kept as numbered aliases (served_1, served_2, ...)."""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

_SERVED = re.compile(r"^served_(\d+)$")


def _accuracy(y, model, X):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y, model.predict(X))


def _f1(y, model, X):
    from sklearn.metrics import f1_score
    return f1_score(y, model.predict(X), pos_label=1)


def _roc_auc(y, model, X):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y, model.predict_proba(X)[:, 1])


METRICS = {"accuracy": _accuracy, "f1": _f1, "roc_auc": _roc_auc}


@contextmanager
def _pointing_at(uri):
    """Point MLflow's process defaults at `uri` for a block, then put them back."""
    import mlflow

    old_tracking, old_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(old_tracking)
        mlflow.set_registry_uri(old_registry)


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    try:
        score = METRICS[metric]
    except KeyError:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, not {metric!r}") from None
    with _pointing_at(tracking_uri) as mlflow:
        model = mlflow.sklearn.load_model(model_uri)
    return float(score(y_test, model, X_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    if not outputs:
        raise LookupError(f"run {run_id} has no logged model")
    logged = client.get_logged_model(outputs[0].model_id)
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = client.create_model_version(model_name, source=logged.artifact_location, run_id=run_id,
                                     model_id=logged.model_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return str(mv.version)


def _aliases(client, name) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}


def _served(aliases) -> dict[int, str]:
    return {int(m.group(1)): v for a, v in aliases.items() if (m := _SERVED.match(a))}


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if np.isnan(margin) or margin < 0:
        raise ValueError(f"margin must be >= 0, not {margin}")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    if "challenger" not in aliases:
        raise LookupError(f"{model_name} has no challenger")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if champion is not None:
        if champion == challenger:
            return False
        gain = (evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
                - evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric))
        if not gain > margin:  # NaN gain is never an improvement
            return False
    served = _served(aliases)
    top = max(served, default=0)
    if champion is not None and served.get(top) != champion:
        top += 1
        client.set_registered_model_alias(model_name, f"served_{top}", champion)
    client.set_registered_model_alias(model_name, f"served_{top + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    table = []
    # Searched without a filter, every page: a filter string cannot quote a name holding both ' and ".
    listed = client.search_model_versions()
    versions = list(listed)
    while listed.token:
        listed = client.search_model_versions(page_token=listed.token)
        versions += listed
    for found in versions:
        if found.name != model_name:
            continue
        mv = client.get_model_version(model_name, found.version)
        table.append({
            "version": str(mv.version),
            "aliases": sorted(mv.aliases),
            "run_id": mv.run_id,
            "score": evaluate(tracking_uri, f"models:/{model_name}/{mv.version}", X_test, y_test, metric),
        })
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    served = _served(aliases)
    if served and aliases.get("champion") not in (None, served[max(served)]):
        # champion set by hand since the last promotion: restore the last served_N, the N stays
        client.set_registered_model_alias(model_name, "champion", served[max(served)])
        return served[max(served)]
    if len(served) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    steps = sorted(served)
    current, previous = steps[-1], steps[-2]
    client.set_registered_model_alias(model_name, "champion", served[previous])
    client.delete_registered_model_alias(model_name, f"served_{current}")
    return served[previous]
