"""Day 08 answer B: a class around one client; one registered-model tag per history entry."""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np

PREFIX = "champion.history."


@contextlib.contextmanager
def _uris(uri):
    """Point MLflow's process URIs at `uri` for the block, then put back what was there."""
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service

    saved = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        _tracking_service.utils._tracking_uri = saved[0]
        _model_registry.utils._registry_uri = saved[1]


def _score(metric, y, model, X):
    from sklearn import metrics

    table = {
        "accuracy": lambda: metrics.accuracy_score(y, model.predict(X)),
        "f1": lambda: metrics.f1_score(y, model.predict(X), pos_label=1),
        "roc_auc": lambda: metrics.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }
    return float(table[metric]())


class _Registry:
    def __init__(self, uri, name):
        import mlflow

        self.uri, self.name = uri, name
        self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    def aliases(self):
        return {alias: str(v) for alias, v in self.client.get_registered_model(self.name).aliases.items()}

    def history(self):
        tags = self.client.get_registered_model(self.name).tags
        entries = sorted((int(k[len(PREFIX):]), v) for k, v in tags.items() if k.startswith(PREFIX))
        return [v for _, v in entries]

    def push(self, position, version):
        self.client.set_registered_model_tag(self.name, f"{PREFIX}{position}", version)

    def drop(self, position):
        self.client.delete_registered_model_tag(self.name, f"{PREFIX}{position}")

    def move(self, alias, version):
        self.client.set_registered_model_alias(self.name, alias, version)

    def versions(self):
        token = None
        while True:
            page = self.client.search_model_versions(max_results=1000, page_token=token)
            yield from (v for v in page if v.name == self.name)
            token = page.token
            if not token:
                return

    def score(self, version, X, y, metric):
        return evaluate(self.uri, f"models:/{self.name}/{version}", X, y, metric)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if metric not in {"accuracy", "f1", "roc_auc"}:
        raise ValueError(f"metric {metric!r} is not accuracy, f1 or roc_auc")
    import mlflow

    with _uris(tracking_uri):
        model = mlflow.sklearn.load_model(model_uri)
    return _score(metric, np.asarray(y_test), model, np.asarray(X_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    reg = _Registry(tracking_uri, model_name)
    experiment = reg.client.get_run(run_id).info.experiment_id
    found = reg.client.search_logged_models(experiment_ids=[experiment],
                                            filter_string=f"source_run_id = '{run_id}'")
    if len(found) == 0:
        raise LookupError(f"no model logged by run {run_id}")
    logged = found[0]
    try:
        reg.client.create_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    with _uris(tracking_uri):
        mv = reg.client.create_model_version(model_name, source=logged.model_uri, run_id=run_id,
                                             model_id=logged.model_id)
    reg.move("challenger", mv.version)
    return str(mv.version)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not isinstance(margin, numbers.Real) or math.isnan(margin) or margin < 0:
        raise ValueError(f"bad margin {margin!r}")
    reg = _Registry(tracking_uri, model_name)
    aliases = reg.aliases()
    if "challenger" not in aliases:
        raise LookupError(f"no challenger for {model_name!r}")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if challenger == champion:
        return False
    if champion is not None:
        gain = reg.score(challenger, X_test, y_test, metric) - reg.score(champion, X_test, y_test, metric)
        if not bool(gain > margin):
            return False
    history = reg.history()
    if champion is not None and (not history or history[-1] != champion):
        reg.push(len(history), champion)
        history.append(champion)
    reg.push(len(history), challenger)
    reg.move("champion", challenger)
    reg.client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    reg = _Registry(tracking_uri, model_name)
    by_version = {}
    for alias, version in reg.aliases().items():
        by_version.setdefault(version, set()).add(alias)
    table = [{"version": str(v.version), "aliases": sorted(by_version.get(str(v.version), ())),
              "run_id": v.run_id, "score": reg.score(v.version, X_test, y_test, metric)}
             for v in reg.versions()]
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    reg = _Registry(tracking_uri, model_name)
    history = reg.history()
    champion = reg.aliases().get("champion")
    if history and champion is not None and champion != history[-1]:
        reg.move("champion", history[-1])
        return history[-1]
    if len(history) < 2:
        raise LookupError(f"no earlier champion of {model_name!r}")
    reg.drop(len(history) - 1)
    target = history[-2]
    reg.move("champion", target)
    return target
