"""Day 08: registry workflow; the champion history is a ladder of aliases.

Every promotion also points an alias `served-<n>` at the new champion (n counts up from 1),
so the history lives on the registered model itself and shows up in any alias listing.
A rollback drops the top rung and moves `champion` to the rung below.
"""

from __future__ import annotations

import re

import numpy as np

_RUNG = re.compile(r"^served-(\d+)$")
_SCORERS = {}


def _scorers():
    if not _SCORERS:
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        _SCORERS.update({
            "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
            "f1": lambda model, X, y: f1_score(y, model.predict(X), pos_label=1),
            "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
        })
    return _SCORERS


def _scorer(metric):
    try:
        return _scorers()[metric]
    except (KeyError, TypeError):
        raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}") from None


def _client(uri):
    import mlflow
    from mlflow.tracking import MlflowClient

    # The SQL registry store looks logged models up through the process's tracking URI.
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _aliases(client, name) -> dict[str, str]:
    """alias -> version; a model that was never registered has none."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {alias: str(version) for alias, version in model.aliases.items()}


def _ladder(aliases: dict[str, str]) -> list[tuple[int, str]]:
    """(rung number, version) for each served-<n> alias, lowest rung first."""
    return sorted((int(m.group(1)), version) for alias, version in aliases.items() if (m := _RUNG.match(alias)))


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    score = _scorer(metric)
    import mlflow.pyfunc

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    estimator = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    return float(score(estimator, X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    model_ids = [out.model_id for out in sorted(outputs, key=lambda o: o.step)]
    if not model_ids:
        raise LookupError(f"run {run_id} logged no model")
    model_id = model_ids[-1]
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    created = client.create_model_version(model_name, source=f"models:/{model_id}", run_id=run_id,
                                          model_id=model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    _scorer(metric)
    if not margin >= 0:
        raise ValueError(f"margin must be zero or more, not {margin!r}")
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    challenger, champion = aliases.get("challenger"), aliases.get("champion")
    if challenger is None:
        raise LookupError(f"{model_name!r} has no challenger")
    if challenger == champion:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        if not scores[challenger] - scores[champion] > margin:  # NaN is never an improvement
            return False
    ladder = _ladder(aliases)
    top = ladder[-1][0] if ladder else 0
    if champion is not None and (not ladder or ladder[-1][1] != champion):
        top += 1
        client.set_registered_model_alias(model_name, f"served-{top}", champion)
    client.set_registered_model_alias(model_name, f"served-{top + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    _scorer(metric)
    client = _client(tracking_uri)
    rows, token = [], None
    while True:
        # No name filter: a filter string cannot quote a name holding both ' and ". Every page, matched here.
        page = client.search_model_versions(page_token=token)
        for found in page:
            if found.name != model_name:
                continue
            mv = client.get_model_version(model_name, str(found.version))
            rows.append({
                "version": str(mv.version),
                "aliases": sorted(mv.aliases),
                "run_id": mv.run_id,
                "score": evaluate(tracking_uri, f"models:/{model_name}/{mv.version}", X_test, y_test, metric),
            })
        token = page.token
        if not token:
            break
    rows.sort(key=lambda r: int(r["version"]))
    rows.sort(key=lambda r: r["score"], reverse=True)
    return rows


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    ladder = _ladder(aliases)
    if ladder and aliases.get("champion") not in (None, ladder[-1][1]):  # moved by hand: back to the top rung
        client.set_registered_model_alias(model_name, "champion", ladder[-1][1])
        return ladder[-1][1]
    if len(ladder) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion to roll back to")
    (top, _), (_, previous) = ladder[-1], ladder[-2]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.delete_registered_model_alias(model_name, f"served-{top}")
    return previous
