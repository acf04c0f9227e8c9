"""Day 08: registry workflow as a small class; champion history kept in numbered aliases."""

from __future__ import annotations

import re

import numpy as np

SERVED = re.compile(r"^served-(\d+)$")


def _accuracy(y, predicted) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(y)))


def _f1(y, predicted) -> float:
    y, predicted = np.asarray(y) == 1, np.asarray(predicted) == 1
    tp = int(np.sum(y & predicted))
    wrong = int(np.sum(y != predicted))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + wrong)


def _roc_auc(y, scores) -> float:
    from scipy.stats import rankdata

    positive = np.asarray(y) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class ModelRegistry:
    """One registered model in one store."""

    SCORERS = {"accuracy": "labels", "f1": "labels", "roc_auc": "proba"}

    def __init__(self, tracking_uri: str, name: str | None = None):
        import mlflow

        self.uri = tracking_uri
        self.name = name
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- scoring -------------------------------------------------------------------------
    def score(self, model_uri: str, X, y, metric: str) -> float:
        if not isinstance(metric, str) or metric not in self.SCORERS:
            raise ValueError(f"metric must be one of {sorted(self.SCORERS)}, not {metric!r}")
        import mlflow.pyfunc

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        model = mlflow.pyfunc.load_model(model_uri).get_raw_model()
        if metric == "roc_auc":
            column = list(model.classes_).index(1)
            return _roc_auc(y, model.predict_proba(X)[:, column])
        predicted = model.predict(X)
        return _accuracy(y, predicted) if metric == "accuracy" else _f1(y, predicted)

    # -- aliases -------------------------------------------------------------------------
    def aliases(self) -> dict[str, str]:
        return {a: str(v) for a, v in self.client.get_registered_model(self.name).aliases.items()}

    def versions(self):
        """This model's versions, from every page of an unfiltered search: a filter string has no escape
        for quotes, and a name may hold both ' and "."""
        page = self.client.search_model_versions()
        while True:
            yield from (v for v in page if v.name == self.name)
            if not page.token:
                return
            page = self.client.search_model_versions(page_token=page.token)

    def served(self, aliases: dict[str, str]) -> list[tuple[int, str]]:
        """(step, version) of every recorded champion, oldest first."""
        steps = [(int(m.group(1)), v) for a, v in aliases.items() if (m := SERVED.match(a))]
        return sorted(steps)

    # -- workflow ------------------------------------------------------------------------
    def register(self, run_id: str) -> str:
        from mlflow.exceptions import MlflowException

        run = self.client.get_run(run_id)
        models = [m for m in self.client.search_logged_models([run.info.experiment_id])
                  if m.source_run_id == run_id]
        if not models:
            raise LookupError(f"run {run_id} has no logged model")
        model = models[0]
        try:
            self.client.create_registered_model(self.name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(self.name, source=model.artifact_location, run_id=run_id,
                                                   model_id=model.model_id)
        self.client.set_registered_model_alias(self.name, "challenger", str(version.version))
        return str(version.version)

    def promote(self, X, y, metric: str, margin: float) -> bool:
        if not (margin >= 0):
            raise ValueError(f"margin must be zero or more, not {margin!r}")
        aliases = self.aliases()
        if "challenger" not in aliases:
            raise LookupError(f"{self.name} has no challenger")
        challenger, champion = aliases["challenger"], aliases.get("champion")
        if challenger == champion:
            return False
        if champion is not None:
            gain = (self.score(f"models:/{self.name}/{challenger}", X, y, metric)
                    - self.score(f"models:/{self.name}/{champion}", X, y, metric))
            if not gain > margin:
                return False
        served = self.served(aliases)
        step = served[-1][0] if served else 0
        if champion is not None and (not served or served[-1][1] != champion):
            step += 1
            self.client.set_registered_model_alias(self.name, f"served-{step}", champion)
        self.client.set_registered_model_alias(self.name, f"served-{step + 1}", challenger)
        self.client.set_registered_model_alias(self.name, "champion", challenger)
        self.client.delete_registered_model_alias(self.name, "challenger")
        return True

    def table(self, X, y, metric: str) -> list[dict]:
        by_version: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            by_version.setdefault(version, []).append(alias)
        rows = [{"version": str(v.version), "aliases": sorted(by_version.get(str(v.version), [])),
                 "run_id": v.run_id, "score": self.score(f"models:/{self.name}/{v.version}", X, y, metric)}
                for v in self.versions()]
        rows.sort(key=lambda r: int(r["version"]))
        rows.sort(key=lambda r: r["score"], reverse=True)  # stable: equal scores keep version order
        return rows

    def rollback(self) -> str:
        aliases = self.aliases()
        served = self.served(aliases)
        if served and aliases.get("champion") not in (None, served[-1][1]):
            # someone moved champion by hand: the last served step is the champion before it
            self.client.set_registered_model_alias(self.name, "champion", served[-1][1])
            return served[-1][1]
        if len(served) < 2:
            raise LookupError(f"{self.name} has no earlier champion")
        (_, previous), (step, _) = served[-2], served[-1]
        self.client.set_registered_model_alias(self.name, "champion", previous)
        self.client.delete_registered_model_alias(self.name, f"served-{step}")
        return previous


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    return ModelRegistry(tracking_uri).score(model_uri, X_test, y_test, metric)


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
