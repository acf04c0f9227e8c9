"""Day 08 answer B: champion history kept as extra aliases (`champion-h1`, `champion-h2`, …),
versions created with the low-level client API, the leaderboard read version by version."""

from __future__ import annotations

import numpy as np

HISTORY_PREFIX = "champion-h"


def _scorers():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
        "f1": lambda model, X, y: f1_score(y, model.predict(X)),
        "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }


def _client(uri):
    import mlflow

    return mlflow.tracking.MlflowClient(tracking_uri=uri, registry_uri=uri)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorer = _scorers().get(metric)
    if scorer is None:
        raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}")
    import mlflow.sklearn
    from mlflow.tracking import set_registry_uri, set_tracking_uri

    set_tracking_uri(tracking_uri)
    set_registry_uri(tracking_uri)
    return float(scorer(mlflow.sklearn.load_model(model_uri), X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    outputs = client.get_run(run_id).outputs
    model_ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    if not model_ids:
        raise LookupError(f"run {run_id} has no logged model to register")
    logged = client.get_logged_model(model_ids[0])
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


def _versions(client, name):
    """Every version of `name`, page by page. The name stays out of the filter string: a filter has no
    escape for a quote, and a model name may hold both ' and "."""
    token = None
    while True:
        page = client.search_model_versions(page_token=token)
        yield from (mv for mv in page if mv.name == name)
        token = page.token
        if not token:
            return


def _depth(aliases) -> int:
    return max((int(a[len(HISTORY_PREFIX):]) for a in aliases if a.startswith(HISTORY_PREFIX)), default=0)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:
        raise ValueError(f"margin must be zero or more, not {margin}")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    if "challenger" not in aliases:
        raise LookupError(f"no challenger for {model_name}")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if champion is not None:
        if champion == challenger:
            return False
        gain = (evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
                - evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric))
        if not gain > margin:  # NaN gain is never an improvement
            return False
    depth = _depth(aliases)
    if champion is not None and aliases.get(f"{HISTORY_PREFIX}{depth}") != champion:  # a champion set by hand
        depth += 1
        client.set_registered_model_alias(model_name, f"{HISTORY_PREFIX}{depth}", champion)
    client.set_registered_model_alias(model_name, f"{HISTORY_PREFIX}{depth + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    by_version: dict[str, list[str]] = {}
    for alias, version in _aliases(client, model_name).items():
        by_version.setdefault(version, []).append(alias)
    table = []
    for mv in _versions(client, model_name):
        v = str(mv.version)
        table.append(dict(version=v, aliases=sorted(by_version.get(v, ())), run_id=mv.run_id,
                          score=evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)))
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: ties keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    depth = _depth(aliases)
    top = aliases.get(f"{HISTORY_PREFIX}{depth}")
    if top is not None and aliases.get("champion", top) != top:
        # champion moved by hand since the last promotion: the top of the history served before it
        client.set_registered_model_alias(model_name, "champion", top)
        return top
    if depth < 2:
        raise LookupError(f"{model_name} has no earlier champion to roll back to")
    previous = aliases[f"{HISTORY_PREFIX}{depth - 1}"]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.delete_registered_model_alias(model_name, f"{HISTORY_PREFIX}{depth}")
    return previous
