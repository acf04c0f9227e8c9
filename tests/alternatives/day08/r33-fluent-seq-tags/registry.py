"""Day 08, style: MLflow's fluent module API (process URIs set on every call), the run's outputs to find
its logged model, and the champion history as one numbered registered-model tag per promotion."""

from __future__ import annotations

import numpy as np

PREFIX = "champion.seq."


def _use(uri):
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def _accuracy(model, X, y):
    return model.score(X, y)


def _f1(model, X, y):
    from sklearn.metrics import f1_score

    return f1_score(y, model.predict(X))


def _roc_auc(model, X, y):
    from sklearn.metrics import roc_auc_score

    proba = model.predict_proba(X)
    return roc_auc_score(y, proba[:, int(np.flatnonzero(model.classes_ == 1)[0])])


SCORERS = {"accuracy": _accuracy, "f1": _f1, "roc_auc": _roc_auc}


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorer = SCORERS.get(metric) if isinstance(metric, str) else None
    if scorer is None:
        raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}")
    model = _use(tracking_uri).sklearn.load_model(model_uri)
    return float(scorer(model, X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    mlflow = _use(tracking_uri)
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    if not outputs:
        raise LookupError(f"run {run_id} has no logged model")
    version = mlflow.register_model(f"models:/{outputs[0].model_id}", model_name).version
    client.set_registered_model_alias(model_name, "challenger", version)
    return str(version)


def _history(client, name) -> list[tuple[int, str]]:
    tags = client.get_registered_model(name).tags
    return sorted((int(key[len(PREFIX):]), value) for key, value in tags.items() if key.startswith(PREFIX))


def _push(client, name, history, version):
    seq = history[-1][0] + 1 if history else 1
    client.set_registered_model_tag(name, f"{PREFIX}{seq}", version)
    history.append((seq, version))


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:
        raise ValueError("margin must be zero or more")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    client = _use(tracking_uri).MlflowClient()
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException:
        aliases = {}
    if "challenger" not in aliases:
        raise LookupError("no challenger")
    challenger = str(aliases["challenger"])
    champion = str(aliases["champion"]) if "champion" in aliases else None
    if challenger == champion:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        if not scores[challenger] > scores[champion] + margin:
            return False
    history = _history(client, model_name)
    if champion is not None and (not history or history[-1][1] != champion):
        _push(client, model_name, history, champion)
    _push(client, model_name, history, challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    mlflow = _use(tracking_uri)
    client = mlflow.MlflowClient()
    table = []
    # The fluent search reads every page. No name filter: none can quote a name holding both ' and ".
    for found in mlflow.search_model_versions():
        if found.name != model_name:
            continue
        version = client.get_model_version(model_name, found.version)
        table.append({"version": str(version.version), "aliases": sorted(version.aliases), "run_id": version.run_id,
                      "score": evaluate(tracking_uri, f"models:/{model_name}/{version.version}", X_test, y_test,
                                        metric)})
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _use(tracking_uri).MlflowClient()
    history = _history(client, model_name)
    aliases = client.get_registered_model(model_name).aliases
    if history and "champion" in aliases and str(aliases["champion"]) != history[-1][1]:
        back_to = history[-1][1]  # champion moved by hand: the last recorded seq is the one before it
        client.set_registered_model_alias(model_name, "champion", back_to)
        return back_to
    if len(history) < 2:
        raise LookupError("no earlier champion")
    seq, _ = history.pop()
    back_to = history[-1][1]
    client.set_registered_model_alias(model_name, "champion", back_to)
    client.delete_registered_model_tag(model_name, f"{PREFIX}{seq}")
    return back_to
