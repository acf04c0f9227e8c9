"""Day 08 answer: history kept as extra aliases `served-000001`, `served-000002`, ... on the model."""

from __future__ import annotations

import numpy as np

PREFIX = "served-"


def _accuracy(model, X, y):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y, model.predict(X))


def _f1(model, X, y):
    from sklearn.metrics import f1_score
    return f1_score(y, model.predict(X), pos_label=1)


def _roc_auc(model, X, y):
    import warnings

    from sklearn.metrics import roc_auc_score
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return roc_auc_score(y, model.predict_proba(X)[:, 1])


SCORERS = {"accuracy": _accuracy, "f1": _f1, "roc_auc": _roc_auc}


class _Registry:
    def __init__(self, uri: str, name: str | None = None):
        import mlflow

        self.uri, self.name = uri, name
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    def aliases(self) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return {}  # no such model: no challenger, no champion, no history
        return {a: str(v) for a, v in model.aliases.items()}

    def served(self, aliases: dict[str, str]) -> list[tuple[int, str, str]]:
        """(sequence, alias, version) of every champion recorded, oldest first."""
        entries = [(int(a[len(PREFIX):]), a, v) for a, v in aliases.items()
                   if a.startswith(PREFIX) and a[len(PREFIX):].isdigit()]
        return sorted(entries)

    def record(self, aliases: dict[str, str], version: str) -> None:
        served = self.served(aliases)
        seq = served[-1][0] + 1 if served else 1
        self.client.set_registered_model_alias(self.name, f"{PREFIX}{seq:06d}", version)
        aliases[f"{PREFIX}{seq:06d}"] = version

    def point(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.name, alias, version)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorer = SCORERS.get(metric) if isinstance(metric, str) else None
    if scorer is None:
        raise ValueError(f"metric must be one of {sorted(SCORERS)}, not {metric!r}")
    import mlflow

    _Registry(tracking_uri)
    return float(scorer(mlflow.sklearn.load_model(model_uri), X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    reg = _Registry(tracking_uri, model_name)
    run = reg.client.get_run(run_id)
    logged = [m for m in reg.client.search_logged_models(experiment_ids=[run.info.experiment_id])
              if m.source_run_id == run_id]
    if not logged:
        raise LookupError(f"run {run_id} has no logged model")
    try:
        reg.client.get_registered_model(model_name)
    except MlflowException:
        reg.client.create_registered_model(model_name)
    version = reg.client.create_model_version(model_name, source=logged[0].model_uri, run_id=run_id,
                                              model_id=logged[0].model_id).version
    reg.point("challenger", str(version))
    return str(version)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:  # negative or NaN
        raise ValueError(f"margin must be >= 0, not {margin!r}")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    reg = _Registry(tracking_uri, model_name)
    aliases = reg.aliases()
    if "challenger" not in aliases:
        raise LookupError(f"{model_name!r} has no challenger")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if challenger == champion:
        return False
    if champion is not None:
        scores = [evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)]
        if not scores[1] > scores[0] + margin:
            return False
        served = reg.served(aliases)
        if not served or served[-1][2] != champion:
            reg.record(aliases, champion)
    reg.record(aliases, challenger)
    reg.point("champion", challenger)
    reg.client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    if metric not in SCORERS:
        raise ValueError(f"unknown metric {metric!r}")
    reg = _Registry(tracking_uri, model_name)
    by_version: dict[str, set[str]] = {}
    for alias, version in reg.aliases().items():
        by_version.setdefault(version, set()).add(alias)
    found, token = [], None
    while True:
        page = reg.client.search_model_versions(max_results=1000, page_token=token)
        found.extend(v for v in page if v.name == model_name)
        token = page.token
        if not token:
            break
    table = []
    for v in found:
        number = str(v.version)
        table.append({"version": number, "aliases": sorted(by_version.get(number, ())), "run_id": v.run_id,
                      "score": evaluate(tracking_uri, f"models:/{model_name}/{number}", X_test, y_test, metric)})
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    reg = _Registry(tracking_uri, model_name)
    aliases = reg.aliases()
    served = reg.served(aliases)
    champion = aliases.get("champion")
    if champion is not None and served and served[-1][2] != champion:
        reg.point("champion", served[-1][2])
        return served[-1][2]
    if len(served) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion")
    reg.client.delete_registered_model_alias(model_name, served[-1][1])
    reg.point("champion", served[-2][2])
    return served[-2][2]
