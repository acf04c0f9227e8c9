"""Day 08 answer, class style: a `_Registry` object per call, URIs resolved by hand, metrics in NumPy,
champion history as numbered registered-model tags (history.0, history.1, ... plus history.size)."""

from __future__ import annotations

import math

import numpy as np


class _Registry:
    SIZE = "history.size"

    def __init__(self, tracking_uri: str):
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # --- aliases ---------------------------------------------------------------------------
    def aliases(self, name: str) -> dict[str, str]:
        return {a: str(v) for a, v in self.client.get_registered_model(name).aliases.items()}

    # --- history stack ---------------------------------------------------------------------
    def history(self, name: str) -> list[str]:
        tags = self.client.get_registered_model(name).tags
        size = int(tags.get(self.SIZE, "0"))
        return [tags[f"history.{i}"] for i in range(size)]

    def push(self, name: str, version: str) -> None:
        size = len(self.history(name))
        self.client.set_registered_model_tag(name, f"history.{size}", version)
        self.client.set_registered_model_tag(name, self.SIZE, str(size + 1))

    def pop(self, name: str) -> None:
        size = len(self.history(name))
        self.client.set_registered_model_tag(name, self.SIZE, str(size - 1))
        self.client.delete_registered_model_tag(name, f"history.{size - 1}")

    # --- models ----------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        token = None
        while True:
            page = self.client.search_registered_models(page_token=token)
            if any(m.name == name for m in page):
                return True
            token = page.token
            if not token:
                return False

    def versions(self, name: str):
        found, token = [], None
        while True:
            page = self.client.search_model_versions(max_results=200, page_token=token)
            found.extend(v for v in page if v.name == name)
            token = page.token
            if not token:
                return found

    def resolve(self, model_uri: str) -> str:
        """models:/name/3, models:/name@alias or models:/m-... -> an artifact URI to load from."""
        if not model_uri.startswith("models:/"):
            return model_uri
        rest = model_uri[len("models:/"):]
        if rest.startswith("m-") and "/" not in rest:
            return self.client.get_logged_model(rest).artifact_location
        if "@" in rest:
            name, alias = rest.rsplit("@", 1)
            version = self.client.get_model_version_by_alias(name, alias).version
        else:
            name, version = rest.rsplit("/", 1)
        return self.client.get_model_version_download_uri(name, str(version))

    def load(self, model_uri: str):
        import mlflow.sklearn

        return mlflow.sklearn.load_model(self.resolve(model_uri))


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import rankdata

    y = np.asarray(y)
    positives = y == 1
    n1, n0 = int(positives.sum()), int((~positives).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.asarray(p, dtype=np.float64))
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _score(model, X, y, metric: str) -> float:
    y = np.asarray(y)
    if metric == "roc_auc":
        return _roc_auc(y, model.predict_proba(X)[:, 1])
    predicted = np.asarray(model.predict(X))
    if metric == "accuracy":
        return float(np.mean(predicted == y))
    tp = int(np.sum((predicted == 1) & (y == 1)))
    fp = int(np.sum((predicted == 1) & (y != 1)))
    fn = int(np.sum((predicted != 1) & (y == 1)))
    return 0.0 if 2 * tp + fp + fn == 0 else float(2 * tp / (2 * tp + fp + fn))


_METRICS = frozenset({"accuracy", "f1", "roc_auc"})


def _check_metric(metric) -> None:
    if not isinstance(metric, str) or metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, not {metric!r}")


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    _check_metric(metric)
    return _score(_Registry(tracking_uri).load(model_uri), X_test, y_test, metric)


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    import mlflow

    reg = _Registry(tracking_uri)
    run = reg.client.get_run(run_id)
    logged = [m for m in reg.client.search_logged_models(experiment_ids=[run.info.experiment_id])
              if m.source_run_id == run_id]
    if not logged:
        raise LookupError(f"run {run_id} has no logged model")
    if not reg.exists(model_name):
        reg.client.create_registered_model(model_name)
    version = str(mlflow.register_model(logged[0].model_uri, model_name).version)
    reg.client.set_registered_model_alias(model_name, "challenger", version)
    return version


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not (margin >= 0):  # NaN fails this too
        raise ValueError(f"margin must be >= 0, not {margin!r}")
    reg = _Registry(tracking_uri)
    aliases = reg.aliases(model_name)
    if "challenger" not in aliases:
        raise LookupError(f"{model_name!r} has no challenger")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if champion == challenger:
        return False
    if champion is not None:
        _check_metric(metric)
        gain = (evaluate(tracking_uri, f"models:/{model_name}/{challenger}", X_test, y_test, metric)
                - evaluate(tracking_uri, f"models:/{model_name}/{champion}", X_test, y_test, metric))
        if not bool(gain > margin):
            return False
    history = reg.history(model_name)
    if champion is not None and (not history or history[-1] != champion):
        reg.push(model_name, champion)
    reg.push(model_name, challenger)
    reg.client.set_registered_model_alias(model_name, "champion", challenger)
    reg.client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    _check_metric(metric)
    reg = _Registry(tracking_uri)
    by_version: dict[str, list[str]] = {}
    for alias, version in reg.aliases(model_name).items():
        by_version.setdefault(version, []).append(alias)
    table = []
    for v in reg.versions(model_name):
        model = reg.load(f"models:/{model_name}/{v.version}")
        table.append({"version": str(v.version), "aliases": sorted(by_version.get(str(v.version), ())),
                      "run_id": v.run_id, "score": _score(model, X_test, y_test, metric)})
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: ties keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    reg = _Registry(tracking_uri)
    history = reg.history(model_name)
    champion = reg.aliases(model_name).get("champion")
    if history and champion is not None and champion != history[-1]:
        target = history[-1]
    elif len(history) >= 2:
        target = history[-2]
        reg.pop(model_name)
    else:
        raise LookupError(f"{model_name!r} has no earlier champion")
    reg.client.set_registered_model_alias(model_name, "champion", target)
    return target
