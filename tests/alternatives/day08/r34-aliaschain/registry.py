"""Day 08, answer B: history kept as numbered aliases served-1, served-2, ...; low-level client calls."""

from __future__ import annotations

import math
from contextlib import contextmanager

PREFIX = "served-"


def _scorers():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        "accuracy": lambda m, X, y: accuracy_score(y, m.predict(X)),
        "f1": lambda m, X, y: f1_score(y, m.predict(X)),
        "roc_auc": lambda m, X, y: roc_auc_score(y, m.predict_proba(X)[:, 1]),
    }


@contextmanager
def _pointed_at(uri):
    import mlflow

    saved = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc"):
    scorers = _scorers()
    if not isinstance(metric, str) or metric not in scorers:
        raise ValueError(f"metric must be one of {sorted(scorers)}, not {metric!r}")
    with _pointed_at(tracking_uri) as mlflow:
        model = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(scorers[metric](model, X_test, y_test))


def _client(uri):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _model_exists(client, name):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name).name == name
    except MlflowException:
        return False


def register_challenger(tracking_uri, run_id, model_name):
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    model_ids = [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])]
    if not model_ids:
        found = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                            filter_string=f"source_run_id = '{run_id}'")
        model_ids = [m.model_id for m in found]
    if not model_ids:
        raise LookupError(f"run {run_id} has no logged model")
    model_id = model_ids[-1]
    if not _model_exists(client, model_name):
        client.create_registered_model(model_name)
    with _pointed_at(tracking_uri):  # the SQL store resolves the logged model through the process tracking URI
        mv = client.create_model_version(model_name, source=f"models:/{model_id}", run_id=run_id, model_id=model_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return str(mv.version)


def _aliases(client, name) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}


def _chain(aliases) -> list[tuple[int, str]]:
    """(position, version) of every history alias, oldest first."""
    chain = []
    for alias, version in aliases.items():
        tail = alias[len(PREFIX):]
        if alias.startswith(PREFIX) and tail.isdigit():
            chain.append((int(tail), version))
    return sorted(chain)


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01):
    if not margin >= 0:  # NaN and negatives
        raise ValueError(f"margin {margin!r} is not a number zero or more")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    challenger, champion = aliases.get("challenger"), aliases.get("champion")
    if challenger is None:
        raise LookupError(f"no challenger for {model_name}")
    if challenger == champion:
        return False
    if champion is not None:
        score = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                 for v in (champion, challenger)}
        if not bool(score[challenger] - score[champion] > margin):
            return False
    chain = _chain(aliases)
    top = chain[-1][0] if chain else 0
    if champion is not None and (not chain or chain[-1][1] != champion):
        top += 1
        client.set_registered_model_alias(model_name, f"{PREFIX}{top}", champion)
    client.set_registered_model_alias(model_name, f"{PREFIX}{top + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc"):
    client = _client(tracking_uri)
    by_version: dict[str, list[str]] = {}
    for alias, version in _aliases(client, model_name).items():
        by_version.setdefault(version, []).append(alias)
    table = []
    token = None
    while True:
        page = client.search_model_versions(page_token=token)  # no filter can quote a name with ' and "
        for mv in page:
            if mv.name == model_name:
                version = str(mv.version)
                table.append({"version": version, "aliases": sorted(by_version.get(version, ())),
                              "run_id": mv.run_id,
                              "score": evaluate(tracking_uri, f"models:/{model_name}/{version}", X_test, y_test,
                                                metric)})
        token = page.token
        if not token:
            break
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri, model_name):
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    chain = _chain(aliases)
    if chain and aliases.get("champion", chain[-1][1]) != chain[-1][1]:  # moved by hand: back to the chain's end
        client.set_registered_model_alias(model_name, "champion", chain[-1][1])
        return chain[-1][1]
    if len(chain) < 2:
        raise LookupError(f"{model_name} has no earlier champion")
    (top, _), (_, previous) = chain[-1], chain[-2]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.delete_registered_model_alias(model_name, f"{PREFIX}{top}")
    return previous
