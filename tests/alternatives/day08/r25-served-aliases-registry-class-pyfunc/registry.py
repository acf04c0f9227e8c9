"""Day 08 registry workflow, written around one small class.

The champion history lives in the registry as numbered aliases on the registered model
(`served-0001`, `served-0002`, ...): each promotion adds one, each rollback removes the newest.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager

import numpy as np

_SERVED = re.compile(r"^served-(\d+)$")


def _roc_auc(model, X, y):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, model.predict_proba(X)[:, 1])


def _accuracy(model, X, y):
    return float(np.mean(np.asarray(model.predict(X)) == np.asarray(y)))


def _f1(model, X, y):
    from sklearn.metrics import f1_score

    return f1_score(y, model.predict(X), pos_label=1)


_SCORERS = {"roc_auc": _roc_auc, "accuracy": _accuracy, "f1": _f1}


@contextmanager
def _process_uris(uri):
    """Point MLflow's process URIs at `uri` for the block, then put back what was there."""
    import mlflow
    from mlflow.tracking import _model_registry

    saved_tracking = mlflow.get_tracking_uri()
    saved_registry = _model_registry.utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        _model_registry.utils._registry_uri = saved_registry


class Registry:
    def __init__(self, tracking_uri: str, name: str):
        import mlflow

        self.uri = tracking_uri
        self.name = name
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- reading ---------------------------------------------------------------------------
    def aliases(self) -> dict[str, str]:
        return {a: str(v) for a, v in self.client.get_registered_model(self.name).aliases.items()}

    def served(self, aliases=None) -> list[tuple[int, str, str]]:
        """(position, alias, version) of every recorded champion, oldest first."""
        aliases = self.aliases() if aliases is None else aliases
        found = [(int(m.group(1)), a, v) for a, v in aliases.items() if (m := _SERVED.match(a))]
        return sorted(found)

    def versions(self) -> list:
        """This model's versions: every page, unfiltered, kept by exact name (a filter string cannot quote
        a name holding both ' and ")."""
        found, token = [], None
        while True:
            page = self.client.search_model_versions(page_token=token)
            found += [mv for mv in page if mv.name == self.name]
            token = page.token
            if not token:
                return found

    def score(self, version: str, X, y, metric: str) -> float:
        return score_uri(self.uri, f"models:/{self.name}/{version}", X, y, metric)

    # -- writing ---------------------------------------------------------------------------
    def record(self, version: str, position: int):
        self.client.set_registered_model_alias(self.name, f"served-{position:04d}", version)


def score_uri(tracking_uri, model_uri, X, y, metric):
    scorer = _SCORERS.get(metric) if isinstance(metric, str) else None
    if scorer is None:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    import mlflow

    with _process_uris(tracking_uri):
        model = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    return float(scorer(model, X, y))


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    return score_uri(tracking_uri, model_uri, X_test, y_test, metric)


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    reg = Registry(tracking_uri, model_name)
    outputs = reg.client.get_run(run_id).outputs
    model_ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    if not model_ids:
        raise LookupError(f"run {run_id} logged no model to register")
    model_id = model_ids[0]
    try:
        reg.client.create_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    # The SQL registry looks the logged model up through MLflow's process tracking URI.
    with _process_uris(tracking_uri):
        version = reg.client.create_model_version(model_name, source=f"models:/{model_id}", run_id=run_id,
                                                  model_id=model_id)
    reg.client.set_registered_model_alias(model_name, "challenger", str(version.version))
    return str(version.version)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:
        raise ValueError(f"margin must be zero or more, not {margin!r}")
    reg = Registry(tracking_uri, model_name)
    aliases = reg.aliases()
    if "challenger" not in aliases:
        raise LookupError(f"{model_name!r} has no challenger to promote")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if challenger == champion:
        return False
    if champion is not None:
        gain = reg.score(challenger, X_test, y_test, metric) - reg.score(champion, X_test, y_test, metric)
        if math.isnan(gain) or not gain > margin:
            return False
    served = reg.served(aliases)
    position = served[-1][0] if served else 0
    if champion is not None and (not served or served[-1][2] != champion):
        position += 1
        reg.record(champion, position)
    reg.record(challenger, position + 1)
    reg.client.set_registered_model_alias(model_name, "champion", challenger)
    reg.client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    reg = Registry(tracking_uri, model_name)
    by_version: dict[str, set[str]] = {}
    for alias, version in reg.aliases().items():
        by_version.setdefault(version, set()).add(alias)
    table = []
    for mv in reg.versions():
        v = str(mv.version)
        table.append(dict(version=v, aliases=sorted(by_version.get(v, ())), run_id=mv.run_id,
                          score=reg.score(v, X_test, y_test, metric)))
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    reg = Registry(tracking_uri, model_name)
    aliases = reg.aliases()
    served = reg.served(aliases)
    if served and aliases.get("champion") not in (None, served[-1][2]):
        # Hand-set champion: the last recorded one served before it, and stays on record.
        reg.client.set_registered_model_alias(model_name, "champion", served[-1][2])
        return served[-1][2]
    if len(served) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion to roll back to")
    previous = served[-2][2]
    reg.client.set_registered_model_alias(model_name, "champion", previous)
    reg.client.delete_registered_model_alias(model_name, served[-1][1])
    return previous
