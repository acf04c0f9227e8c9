"""Day 08: a model registry workflow with aliases: challenger, champion, rollback.

Style: only `MlflowClient` calls and explicit URIs (no process-wide MLflow state is set),
metrics computed with numpy/scipy, and the champion history kept as numbered aliases
`served-1`, `served-2`, ... (alias `served-N` points at the N-th champion in turn).
"""

from __future__ import annotations

import tempfile

import numpy as np

TRAIL = "served-"


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs both classes in y")
    ranks = rankdata(p)  # ties get their average rank (Mann-Whitney U)
    u = ranks[y].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def _accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.asarray(y) == np.asarray(predicted)))


def _f1(y: np.ndarray, predicted: np.ndarray) -> float:
    y, predicted = np.asarray(y) == 1, np.asarray(predicted) == 1
    tp = int(np.sum(y & predicted))
    denominator = int(np.sum(y)) + int(np.sum(predicted))
    return 2 * tp / denominator if denominator else 0.0


_SCORERS = {
    "roc_auc": lambda model, X, y: _roc_auc(y, model.predict_proba(X)[:, 1]),
    "accuracy": lambda model, X, y: _accuracy(y, model.predict(X)),
    "f1": lambda model, X, y: _f1(y, model.predict(X)),
}


def _artifact_location(client, model_uri: str) -> str:
    """Where the files of `models:/name/3`, `models:/name@alias` or `models:/m-...` live (resolved by
    this client, so that no process-wide registry URI is consulted)."""
    if not model_uri.startswith("models:/"):
        return model_uri
    path = model_uri[len("models:/"):].strip("/")
    if "@" in path:
        name, alias = path.rsplit("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    elif "/" in path:
        name, number = path.rsplit("/", 1)
        version = client.get_model_version(name, number)
    else:
        return client.get_logged_model(path).artifact_location
    if version.model_id:
        return client.get_logged_model(version.model_id).artifact_location
    return client.get_model_version_download_uri(version.name, version.version)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorer = _SCORERS.get(metric) if isinstance(metric, str) else None
    if scorer is None:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(_SCORERS)}")
    import mlflow.sklearn
    from mlflow.artifacts import download_artifacts

    location = _artifact_location(_client(tracking_uri), model_uri)
    with tempfile.TemporaryDirectory() as folder:
        local = download_artifacts(artifact_uri=location, dst_path=folder, tracking_uri=tracking_uri)
        model = mlflow.sklearn.load_model(local)
    return scorer(model, X_test, y_test)


def _logged_model_id(client, run_id: str) -> str:
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    ids = [output.model_id for output in outputs]
    if not ids:
        raise LookupError(f"run {run_id} logged no model")
    return ids[-1]


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    model_id = _logged_model_id(client, run_id)
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    source = client.get_logged_model(model_id).artifact_location
    created = client.create_model_version(model_name, source=source, run_id=run_id,
                                          model_id=model_id)
    client.set_registered_model_alias(model_name, "challenger", created.version)
    return str(created.version)


def _trail(aliases: dict) -> list[tuple[int, str]]:
    """(step, version) for every `served-N` alias, oldest first."""
    steps = []
    for alias, version in aliases.items():
        if alias.startswith(TRAIL) and alias[len(TRAIL):].isdigit():
            steps.append((int(alias[len(TRAIL):]), str(version)))
    return sorted(steps)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not np.greater_equal(margin, 0):  # False for NaN as well
        raise ValueError("margin must be zero or more")
    client = _client(tracking_uri)
    aliases = {alias: str(v) for alias, v in client.get_registered_model(model_name).aliases.items()}
    if "challenger" not in aliases:
        raise LookupError(f"{model_name!r} has no 'challenger'")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if challenger == champion:
        return False
    if champion is not None:
        scores = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                  for v in (champion, challenger)}
        if not scores[challenger] - scores[champion] > margin:  # NaN is never an improvement
            return False
    trail = _trail(aliases)
    step = trail[-1][0] if trail else 0
    if champion is not None and (not trail or trail[-1][1] != champion):
        step += 1
        client.set_registered_model_alias(model_name, f"{TRAIL}{step}", champion)
    client.set_registered_model_alias(model_name, f"{TRAIL}{step + 1}", challenger)
    client.set_registered_model_alias(model_name, "champion", challenger)
    client.delete_registered_model_alias(model_name, "challenger")
    return True


def _versions_named(client, name) -> list:
    """Exact-name match over every page: no filter string can quote a name that holds both ' and "."""
    matched, token = [], None
    while True:
        page = client.search_model_versions(page_token=token)
        matched += [mv for mv in page if mv.name == name]
        token = page.token
        if not token:
            return matched


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}")
    client = _client(tracking_uri)
    registered = client.get_registered_model(model_name)
    by_version: dict[str, list[str]] = {}
    for alias, version in registered.aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    table = []
    for mv in _versions_named(client, model_name):
        v = str(mv.version)
        table.append({"version": v, "aliases": sorted(by_version.get(v, ())), "run_id": mv.run_id,
                      "score": evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)})
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: equal scores keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    client = _client(tracking_uri)
    aliases = client.get_registered_model(model_name).aliases
    trail = _trail(aliases)
    champion = str(aliases["champion"]) if "champion" in aliases else None
    if trail and champion is not None and champion != trail[-1][1]:
        # the champion was set by hand after the last step: that last step is the one to return to
        client.set_registered_model_alias(model_name, "champion", trail[-1][1])
        return trail[-1][1]
    if len(trail) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion")
    (_, previous), (last_step, _) = trail[-2], trail[-1]
    client.set_registered_model_alias(model_name, "champion", previous)
    client.delete_registered_model_alias(model_name, f"{TRAIL}{last_step}")
    return previous
