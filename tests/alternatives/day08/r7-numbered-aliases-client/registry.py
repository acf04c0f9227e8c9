"""Day 08 answer: client objects only, pyfunc loading under a scoped URI, hand-written metrics,
champion history kept as numbered aliases (`served-1`, `served-2`, ...) on the registered model."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import numpy as np

_SERVED = re.compile(r"^served-(\d+)$")


@contextmanager
def _pointing_at(uri):
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service

    saved = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        _tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri = saved


def _roc_auc(y, p):
    from scipy.stats import rankdata

    y = np.asarray(y)
    ranks = rankdata(p)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _f1(y, pred):
    y, pred = np.asarray(y), np.asarray(pred)
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y != 1)))
    fn = int(np.sum((pred != 1) & (y == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorers = {
        "roc_auc": lambda m: _roc_auc(y_test, m.predict_proba(X_test)[:, 1]),
        "accuracy": lambda m: float(np.mean(np.asarray(m.predict(X_test)) == np.asarray(y_test))),
        "f1": lambda m: _f1(y_test, m.predict(X_test)),
    }
    if metric not in scorers:
        raise ValueError(f"metric must be one of {sorted(scorers)}, not {metric!r}")
    import mlflow.pyfunc

    with _pointing_at(tracking_uri):
        model = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    return float(scorers[metric](model))


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    outputs = client.get_run(run_id).outputs
    model_outputs = list(outputs.model_outputs) if outputs is not None else []
    if not model_outputs:
        raise LookupError(f"run {run_id} has no logged model")
    model_id = max(model_outputs, key=lambda o: o.step).model_id
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    # The registry store resolves a `models:/m-...` source with the process-wide tracking URI,
    # so give it the logged model's storage location instead.
    source = client.get_logged_model(model_id).artifact_location
    mv = client.create_model_version(model_name, source=source, run_id=run_id, model_id=model_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return str(mv.version)


def _served(aliases: dict) -> list[tuple[int, str]]:
    """(position, version) for every history alias, oldest first."""
    out = []
    for alias, version in aliases.items():
        m = _SERVED.match(alias)
        if m:
            out.append((int(m.group(1)), str(version)))
    return sorted(out)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    client = _client(tracking_uri)
    aliases = {a: str(v) for a, v in client.get_registered_model(model_name).aliases.items()}
    if "challenger" not in aliases:
        raise LookupError(f"no challenger for {model_name}")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if champion == challenger:
        return False
    if champion is not None:
        scores = [evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)]
        if not scores[1] - scores[0] > margin:  # NaN is never an improvement
            return False
    served = _served(aliases)
    top = served[-1][0] if served else 0
    if champion is not None and (not served or served[-1][1] != champion):
        top += 1
        client.set_registered_model_alias(model_name, f"served-{top}", champion)
    client.set_registered_model_alias(model_name, f"served-{top + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    client = _client(tracking_uri)
    aliases = client.get_registered_model(model_name).aliases
    rows, token = [], None
    while True:
        # No name filter (none can quote a name holding both ' and "): match the name on each page.
        page = client.search_model_versions(max_results=50, page_token=token)
        for mv in page:
            if mv.name != model_name:
                continue
            v = str(mv.version)
            rows.append({"version": v, "aliases": sorted(a for a, av in aliases.items() if str(av) == v),
                         "run_id": mv.run_id,
                         "score": evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)})
        token = page.token
        if not token:
            break
    rows.sort(key=lambda r: int(r["version"]))
    rows.sort(key=lambda r: r["score"], reverse=True)
    return rows


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    aliases = client.get_registered_model(model_name).aliases
    served = _served(aliases)
    if served and "champion" in aliases and str(aliases["champion"]) != served[-1][1]:  # moved by hand
        client.set_registered_model_alias(model_name, "champion", served[-1][1])
        return served[-1][1]
    if len(served) < 2:
        raise LookupError(f"{model_name} has no earlier champion to roll back to")
    (_, previous), (top, _) = served[-2], served[-1]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.delete_registered_model_alias(model_name, f"served-{top}")
    return previous
