"""Day 08, answer B: MlflowClient only, process URIs restored after loading, and the champion
history kept as numbered tags on the versions that served (`champion_turn_<n>`)."""

from __future__ import annotations

import contextlib
import math

import numpy as np

TURN = "champion_turn_"


def _scorers():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        "accuracy": lambda model, X, y: accuracy_score(y, model.predict(X)),
        "f1": lambda model, X, y: f1_score(y, model.predict(X)),
        "roc_auc": lambda model, X, y: roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }


@contextlib.contextmanager
def _uris(uri: str):
    """Point MLflow's process URIs at `uri` while the block runs, then put back what was there."""
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service

    saved = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        _tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri = saved


class _Registry:
    def __init__(self, uri: str, name: str):
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.name = name

    def alias(self, alias: str) -> str | None:
        return {a: str(v) for a, v in self.client.get_registered_model(self.name).aliases.items()}.get(alias)

    def versions(self):
        # Every page, no name filter: a filter string cannot quote a name holding both ' and ".
        found, page = [], self.client.search_model_versions()
        while True:
            found += page
            if not page.token:
                break
            page = self.client.search_model_versions(page_token=page.token)
        return [self.client.get_model_version(self.name, mv.version) for mv in found if mv.name == self.name]

    def turns(self) -> list[tuple[int, str]]:
        """(turn, version) for every time a version became champion, oldest first."""
        out = []
        for mv in self.versions():
            for key in mv.tags:
                if key.startswith(TURN):
                    out.append((int(key[len(TURN):]), str(mv.version)))
        return sorted(out)

    def add_turn(self, turns: list[tuple[int, str]], version: str) -> None:
        number = turns[-1][0] + 1 if turns else 1
        self.client.set_model_version_tag(self.name, version, f"{TURN}{number}", "champion")
        turns.append((number, version))


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc") -> float:
    scorers = _scorers()
    if metric not in scorers:
        raise ValueError(f"metric must be one of {sorted(scorers)}, not {metric!r}")
    import mlflow.sklearn

    with _uris(tracking_uri):
        model = mlflow.sklearn.load_model(model_uri)
    return float(scorers[metric](model, np.asarray(X_test), np.asarray(y_test)))


def register_challenger(tracking_uri, run_id, model_name) -> str:
    from mlflow.exceptions import MlflowException

    reg = _Registry(tracking_uri, model_name)
    client = reg.client
    run = client.get_run(run_id)
    models = [m for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])
              if m.source_run_id == run_id]
    if not models:
        raise LookupError(f"run {run_id} has no logged model")
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    mv = client.create_model_version(model_name, source=models[0].artifact_location, run_id=run_id,
                                     model_id=models[0].model_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return str(mv.version)


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01) -> bool:
    if not margin >= 0:  # False for NaN and negatives alike
        raise ValueError(f"margin must be zero or more, got {margin!r}")
    reg = _Registry(tracking_uri, model_name)
    challenger = reg.alias("challenger")
    if challenger is None:
        raise LookupError(f"{model_name!r} has no 'challenger' alias")
    champion = reg.alias("champion")
    if challenger == champion:
        return False
    if champion is not None:
        scores = [evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)]
        if not (scores[1] - scores[0] > margin):
            return False
    turns = reg.turns()
    if champion is not None and (not turns or turns[-1][1] != champion):
        reg.add_turn(turns, champion)
    reg.add_turn(turns, challenger)
    reg.client.set_registered_model_alias(model_name, "champion", challenger)
    reg.client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc") -> list[dict]:
    reg = _Registry(tracking_uri, model_name)
    table = [{"version": str(mv.version), "aliases": sorted(mv.aliases), "run_id": mv.run_id,
              "score": evaluate(tracking_uri, f"models:/{model_name}/{mv.version}", X_test, y_test, metric)}
             for mv in reg.versions()]
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri, model_name) -> str:
    reg = _Registry(tracking_uri, model_name)
    turns = reg.turns()
    champion = reg.alias("champion")
    if turns and champion is not None and champion != turns[-1][1]:  # a turn nobody recorded (set by hand)
        reg.client.set_registered_model_alias(model_name, "champion", turns[-1][1])
        return turns[-1][1]
    if len(turns) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion to go back to")
    number, version = turns[-1]
    previous = turns[-2][1]
    reg.client.delete_model_version_tag(model_name, version, f"{TURN}{number}")
    reg.client.set_registered_model_alias(model_name, "champion", previous)
    return previous
