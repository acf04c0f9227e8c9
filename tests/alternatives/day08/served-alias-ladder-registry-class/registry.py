"""Day 08: registry workflow written around a small class; rollback history kept as aliases.

Every champion gets a numbered alias `served-<n>` (1, 2, 3, ...) on its version when it
starts serving, so the registered model itself carries its history: a rollback drops the
highest one and points `champion` at the version of the one below it.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

_SERVED = re.compile(r"^served-(\d+)$")


@contextmanager
def _pointing_at(uri):
    import mlflow
    from mlflow.tracking import _model_registry

    old_tracking = mlflow.get_tracking_uri()
    old_registry = _model_registry.utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(old_tracking)
        _model_registry.utils._registry_uri = old_registry


def _score(metric, model, X, y):
    from sklearn import metrics

    if metric == "roc_auc":
        return metrics.roc_auc_score(y, model.predict_proba(X)[:, 1])
    if metric == "accuracy":
        return metrics.accuracy_score(y, model.predict(X))
    if metric == "f1":
        return metrics.f1_score(y, model.predict(X), pos_label=1)
    raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}")


class ModelRegistry:
    def __init__(self, uri: str, name: str):
        from mlflow import MlflowClient

        self.uri = uri
        self.name = name
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    # --- aliases ---------------------------------------------------------------
    def aliases(self) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException as missing:
            raise LookupError(f"no registered model {self.name!r}") from missing
        return {a: str(v) for a, v in model.aliases.items()}

    def served(self, aliases: dict[str, str]) -> list[tuple[int, str]]:
        """(position, version) of every recorded champion, oldest first."""
        found = []
        for alias, version in aliases.items():
            match = _SERVED.match(alias)
            if match:
                found.append((int(match.group(1)), version))
        return sorted(found)

    # --- scoring ---------------------------------------------------------------
    def score(self, version: str, X, y, metric: str) -> float:
        return evaluate(self.uri, f"models:/{self.name}/{version}", X, y, metric)

    # --- workflow --------------------------------------------------------------
    def register(self, run_id: str) -> str:
        from mlflow.exceptions import MlflowException

        run = self.client.get_run(run_id)
        models = self.client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                                  filter_string=f"source_run_id = '{run_id}'")
        if not models:
            raise LookupError(f"run {run_id} has no logged model to register")
        logged = models[0]
        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            self.client.create_registered_model(self.name)
        mv = self.client.create_model_version(self.name, source=logged.artifact_location, run_id=run_id,
                                              model_id=logged.model_id)
        self.client.set_registered_model_alias(self.name, "challenger", str(mv.version))
        return str(mv.version)

    def promote(self, X, y, metric: str, margin: float) -> bool:
        if not margin >= 0:  # False for negative margins and for NaN
            raise ValueError(f"margin must be zero or more, not {margin!r}")
        aliases = self.aliases()
        if "challenger" not in aliases:
            raise LookupError(f"{self.name} has no challenger")
        challenger, champion = aliases["challenger"], aliases.get("champion")
        if challenger == champion:
            return False
        if champion is not None:
            gain = self.score(challenger, X, y, metric) - self.score(champion, X, y, metric)
            if not gain > margin:
                return False
        served = self.served(aliases)
        top = served[-1][0] if served else 0
        if champion is not None and (not served or served[-1][1] != champion):
            top += 1
            self.client.set_registered_model_alias(self.name, f"served-{top}", champion)
        self.client.set_registered_model_alias(self.name, f"served-{top + 1}", challenger)
        self.client.set_registered_model_alias(self.name, "champion", challenger)
        self.client.delete_registered_model_alias(self.name, "challenger")
        return True

    def table(self, X, y, metric: str) -> list[dict]:
        by_version: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            by_version.setdefault(version, []).append(alias)
        rows, token = [], None
        while True:
            # no name filter: a filter string cannot quote a name that holds both ' and "
            page = self.client.search_model_versions(page_token=token)
            for mv in page:
                if mv.name == self.name:
                    v = str(mv.version)
                    rows.append(dict(version=v, aliases=sorted(by_version.get(v, [])), run_id=mv.run_id,
                                     score=self.score(v, X, y, metric)))
            token = page.token
            if not token:
                break
        rows.sort(key=lambda r: int(r["version"]))
        rows.sort(key=lambda r: r["score"], reverse=True)  # stable: ties keep version order
        return rows

    def rollback(self) -> str:
        aliases = self.aliases()
        served = self.served(aliases)
        current = aliases.get("champion")
        if served and current is not None and current != served[-1][1]:  # set by hand: return to the top rung
            self.client.set_registered_model_alias(self.name, "champion", served[-1][1])
            return served[-1][1]
        if len(served) < 2:
            raise LookupError(f"{self.name} has no earlier champion to go back to")
        (top, _), (_, previous) = served[-1], served[-2]
        self.client.set_registered_model_alias(self.name, "champion", previous)
        self.client.delete_registered_model_alias(self.name, f"served-{top}")
        return previous


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    if metric not in {"accuracy", "f1", "roc_auc"}:
        raise ValueError(f"metric must be accuracy, f1 or roc_auc, not {metric!r}")
    with _pointing_at(tracking_uri) as mlflow:
        model = mlflow.sklearn.load_model(model_uri)
    return float(_score(metric, model, X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    return ModelRegistry(tracking_uri, model_name).register(run_id)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    return ModelRegistry(tracking_uri, model_name).promote(X_test, y_test, metric, margin)


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    return ModelRegistry(tracking_uri, model_name).table(X_test, y_test, metric)


def rollback(tracking_uri: str, model_name: str) -> str:
    return ModelRegistry(tracking_uri, model_name).rollback()
