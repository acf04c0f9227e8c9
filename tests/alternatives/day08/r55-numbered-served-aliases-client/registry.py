"""Day 08, second style: an explicit client everywhere, history kept as numbered aliases.

Every champion that served gets an alias `served-000001`, `served-000002`, ... pointing at its
version; the highest number is the newest. The aliases live with the registered model, so they
survive a rename and any process can read them.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

_PREFIX = "served-"


def _accuracy(model, X, y):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y, model.predict(X))


def _f1(model, X, y):
    from sklearn.metrics import f1_score
    return f1_score(y, model.predict(X), pos_label=1)


def _roc_auc(model, X, y):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y, model.predict_proba(X)[:, 1])


_SCORERS = {"accuracy": _accuracy, "f1": _f1, "roc_auc": _roc_auc}


@contextlib.contextmanager
def _process_uris(uri: str):
    """Point MLflow's process-wide URIs at `uri` for a block, then put back what was there."""
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _client(uri: str):
    import mlflow

    return mlflow.tracking.MlflowClient(tracking_uri=uri, registry_uri=uri)


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc"):
    scorer = _SCORERS.get(metric) if isinstance(metric, str) else None
    if scorer is None:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, got {metric!r}")
    import mlflow.sklearn

    with _process_uris(tracking_uri):
        model = mlflow.sklearn.load_model(model_uri)
    return float(scorer(model, X_test, y_test))


def register_challenger(tracking_uri, run_id, model_name):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    client = _client(tracking_uri)
    experiment = client.get_run(run_id).info.experiment_id
    found = [m for m in client.search_logged_models([experiment], filter_string=f"source_run_id = '{run_id}'")]
    if not found:
        raise LookupError(f"run {run_id!r} has no logged model to register")
    logged = found[0]
    try:
        client.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        client.create_registered_model(model_name)
    with _process_uris(tracking_uri):  # a models:/ source resolves through the process tracking URI
        created = client.create_model_version(model_name, source=logged.model_uri, run_id=run_id,
                                              model_id=logged.model_id)
    client.set_registered_model_alias(model_name, "challenger", created.version)
    return str(created.version)


def _aliases(client, name) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def _served(aliases: dict[str, str]) -> list[tuple[int, str]]:
    """(slot, version) of every history alias, oldest first."""
    slots = [(int(a[len(_PREFIX):]), v) for a, v in aliases.items()
             if a.startswith(_PREFIX) and a[len(_PREFIX):].isdigit()]
    return sorted(slots)


def _slot_alias(slot: int) -> str:
    return f"{_PREFIX}{slot:06d}"


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01):
    threshold = float(margin)
    if not threshold >= 0:  # catches NaN too
        raise ValueError(f"margin must be zero or more, got {margin!r}")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    if "challenger" not in aliases:
        raise LookupError(f"no challenger for {model_name!r}")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if challenger == champion:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        gain = scores[challenger] - scores[champion]
        if not gain > threshold:
            return False
    served = _served(aliases)
    next_slot = served[-1][0] + 1 if served else 1
    if champion is not None and (not served or served[-1][1] != champion):
        client.set_registered_model_alias(model_name, _slot_alias(next_slot), champion)
        next_slot += 1
    client.set_registered_model_alias(model_name, _slot_alias(next_slot), challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc"):
    client = _client(tracking_uri)
    numbers, token = [], None
    while True:
        page = client.search_model_versions(max_results=1000, page_token=token)
        numbers += [str(v.version) for v in page if v.name == model_name]
        token = page.token
        if not token:
            break
    table = []
    for number in sorted(numbers, key=int):
        version = client.get_model_version(model_name, number)
        table.append({
            "version": number,
            "aliases": sorted(version.aliases or []),
            "run_id": version.run_id,
            "score": evaluate(tracking_uri, f"models:/{model_name}/{number}", X_test, y_test, metric),
        })
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: equal scores stay by version
    return table


def rollback(tracking_uri, model_name):
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    served = _served(aliases)
    champion = aliases.get("champion")
    if champion is not None and served and served[-1][1] != champion:
        target = served[-1][1]  # moved by hand: go back to the last recorded champion
        client.set_registered_model_alias(model_name, "champion", target)
        return target
    if len(served) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion to roll back to")
    client.set_registered_model_alias(model_name, "champion", served[-2][1])
    client.delete_registered_model_alias(model_name, _slot_alias(served[-1][0]))
    return served[-2][1]
