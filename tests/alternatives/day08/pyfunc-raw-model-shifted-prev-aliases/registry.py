"""Day 08 answer B: pyfunc raw model, low-level version creation, history kept as aliases."""

from __future__ import annotations

import numpy as np

PREV = "champion_prev_"  # champion_prev_1 = the champion before the current one, _2 the one before that...
# champion_prev_0 = the champion the last promotion or rollback set (tells a champion moved by hand apart)


def _scorers():
    from sklearn import metrics as m

    return {
        "accuracy": lambda model, X, y: m.accuracy_score(y, model.predict(X)),
        "f1": lambda model, X, y: m.f1_score(y, model.predict(X), pos_label=1),
        "roc_auc": lambda model, X, y: m.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }


class _Registry:
    def __init__(self, uri):
        import mlflow

        self.uri = uri
        self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    def aliases(self, name) -> dict[str, str]:
        return {a: str(v) for a, v in self.client.get_registered_model(name).aliases.items()}

    def versions(self, name):
        # All pages, unfiltered: no filter string can quote a name that holds both ' and ".
        token = None
        while True:
            page = self.client.search_model_versions(page_token=token)
            yield from (found for found in page if found.name == name)
            token = page.token
            if not token:
                break

    def point(self, name, alias, version):
        self.client.set_registered_model_alias(name, alias, version)

    def drop(self, name, alias):
        self.client.delete_registered_model_alias(name, alias)


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorers = _scorers()
    if metric not in scorers:
        raise ValueError(f"metric must be one of {sorted(scorers)}, not {metric!r}")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    raw = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    return float(scorers[metric](raw, X_test, y_test))


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    from mlflow.exceptions import MlflowException

    reg = _Registry(tracking_uri)
    outputs = reg.client.get_run(run_id).outputs
    model_ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    if not model_ids:
        raise LookupError(f"run {run_id} has no logged model")
    try:
        reg.client.create_registered_model(model_name)
    except MlflowException as e:
        if "ALREADY_EXISTS" not in str(e.error_code):
            raise
    logged = reg.client.get_logged_model(model_ids[-1])
    # the logged model's own storage, not models:/m-... (which the SQL store resolves with the process default)
    mv = reg.client.create_model_version(model_name, source=logged.artifact_location, run_id=run_id,
                                         model_id=logged.model_id)
    reg.point(model_name, "challenger", mv.version)
    return str(mv.version)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, not {margin}")
    reg = _Registry(tracking_uri)
    aliases = reg.aliases(model_name)
    if "challenger" not in aliases:
        raise LookupError(f"{model_name} has no challenger")
    challenger, champion = aliases["challenger"], aliases.get("champion")
    if champion is not None:
        if champion == challenger:
            return False
        score = {v: evaluate(tracking_uri, f"models:/{model_name}/{v}", X_test, y_test, metric)
                 for v in (challenger, champion)}
        if not score[challenger] - score[champion] > margin:  # NaN is never an improvement
            return False
        depth = max([int(a[len(PREV):]) for a in aliases if a.startswith(PREV)], default=0)
        served = [champion]  # the champions to push, newest first
        if aliases.get(f"{PREV}0", champion) != champion:  # moved by hand: the one we set last served before it
            served.append(aliases[f"{PREV}0"])
        for k in range(depth, 0, -1):
            reg.point(model_name, f"{PREV}{k + len(served)}", aliases[f"{PREV}{k}"])
        for k, version in enumerate(served, start=1):
            reg.point(model_name, f"{PREV}{k}", version)
    reg.point(model_name, "champion", challenger)
    reg.point(model_name, f"{PREV}0", challenger)
    reg.drop(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    reg = _Registry(tracking_uri)
    table = []
    for found in reg.versions(model_name):
        mv = reg.client.get_model_version(model_name, found.version)
        table.append({
            "version": str(mv.version),
            "aliases": sorted(mv.aliases),
            "run_id": mv.run_id,
            "score": evaluate(tracking_uri, f"models:/{model_name}/{mv.version}", X_test, y_test, metric),
        })
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    reg = _Registry(tracking_uri)
    aliases = reg.aliases(model_name)
    set_last = aliases.get(f"{PREV}0")
    if set_last is not None and aliases.get("champion", set_last) != set_last:
        # champion moved by hand since: the one we set last served before it; the chain stays as it is
        reg.point(model_name, "champion", set_last)
        return set_last
    if f"{PREV}1" not in aliases:
        raise LookupError(f"{model_name} has no earlier champion")
    back_to = aliases[f"{PREV}1"]
    reg.point(model_name, "champion", back_to)
    depth = max(int(a[len(PREV):]) for a in aliases if a.startswith(PREV))
    for k in range(1, depth):
        reg.point(model_name, f"{PREV}{k}", aliases[f"{PREV}{k + 1}"])
    reg.drop(model_name, f"{PREV}{depth}")
    reg.point(model_name, f"{PREV}0", back_to)
    return back_to
