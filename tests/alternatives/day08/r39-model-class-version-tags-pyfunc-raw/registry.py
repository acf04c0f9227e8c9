"""Day 08 answer, style B: a small class around MlflowClient; the champion history lives in the
versions' own tags (each version lists the sequence numbers of its terms as champion)."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager

import numpy as np

_TERMS = "champion_terms"


def _roc_auc(model, X, y):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y, model.predict_proba(X)[:, 1])


def _accuracy(model, X, y):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y, model.predict(X))


def _f1(model, X, y):
    from sklearn.metrics import f1_score
    return f1_score(y, model.predict(X), pos_label=1)


_SCORERS = {"roc_auc": _roc_auc, "accuracy": _accuracy, "f1": _f1}


@contextmanager
def _uris(uri):
    import mlflow

    saved = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    scorer = _SCORERS.get(metric) if isinstance(metric, str) else None
    if scorer is None:
        raise ValueError(f"metric must be one of {sorted(_SCORERS)}, not {metric!r}")
    with _uris(tracking_uri) as mlflow:
        model = mlflow.pyfunc.load_model(model_uri).get_raw_model()
    return float(scorer(model, X_test, y_test))


class _Model:
    def __init__(self, uri: str, name: str):
        import mlflow

        self.uri, self.name = uri, name
        self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    def exists(self) -> bool:
        from mlflow.exceptions import MlflowException
        try:
            return self.client.get_registered_model(self.name).name == self.name
        except MlflowException:
            return False

    def alias(self, alias: str) -> str | None:
        aliases = self.client.get_registered_model(self.name).aliases
        return str(aliases[alias]) if alias in aliases else None

    def versions(self):
        token = None
        while True:
            page = self.client.search_model_versions(max_results=1000, page_token=token)
            for v in page:
                if v.name == self.name:
                    yield v
            token = page.token
            if not token:
                return

    def terms(self) -> list[tuple[int, str]]:
        """(sequence number, version) for every term as champion, oldest first."""
        found = []
        for v in self.versions():
            raw = v.tags.get(_TERMS)
            if raw is None:
                raw = self.client.get_model_version(self.name, v.version).tags.get(_TERMS)
            for seq in json.loads(raw or "[]"):
                found.append((int(seq), str(v.version)))
        return sorted(found)

    def _set_terms(self, version: str, seqs: list[int]) -> None:
        self.client.set_model_version_tag(self.name, version, _TERMS, json.dumps(seqs))

    def add_term(self, version: str, seq: int) -> None:
        seqs = json.loads(self.client.get_model_version(self.name, version).tags.get(_TERMS) or "[]")
        self._set_terms(version, seqs + [seq])

    def drop_term(self, version: str, seq: int) -> None:
        seqs = json.loads(self.client.get_model_version(self.name, version).tags.get(_TERMS) or "[]")
        seqs.remove(seq)
        self._set_terms(version, seqs)

    def score(self, version: str, X, y, metric: str) -> float:
        return evaluate(self.uri, f"models:/{self.name}/{version}", X, y, metric)


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    model = _Model(tracking_uri, model_name)
    outputs = model.client.get_run(run_id).outputs
    logged = sorted(outputs.model_outputs if outputs else [], key=lambda o: o.step)
    if not logged:
        raise LookupError(f"run {run_id} logged no model")
    model_id = logged[-1].model_id
    if not model.exists():
        model.client.create_registered_model(model_name)
    with _uris(tracking_uri):  # the SQL registry resolves the logged model through the process tracking URI
        created = model.client.create_model_version(model_name, source=f"models:/{model_id}", run_id=run_id,
                                                    model_id=model_id)
    model.client.set_registered_model_alias(model_name, "challenger", str(created.version))
    return str(created.version)


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    if math.isnan(float(margin)) or margin < 0:
        raise ValueError(f"margin must be zero or more, not {margin!r}")
    margin = float(margin)  # a float32 margin added to a score would round the score to float32
    model = _Model(tracking_uri, model_name)
    challenger, champion = model.alias("challenger"), model.alias("champion")
    if challenger is None:
        raise LookupError(f"{model_name!r} has no challenger")
    if challenger == champion:
        return False
    if champion is not None:
        gain_ok = model.score(challenger, X_test, y_test, metric) > model.score(champion, X_test, y_test, metric) + margin
        if not gain_ok:
            return False
    terms = model.terms()
    seq = terms[-1][0] + 1 if terms else 1
    if champion is not None and (not terms or terms[-1][1] != champion):
        model.add_term(champion, seq)
        seq += 1
    model.add_term(challenger, seq)
    model.client.set_registered_model_alias(model_name, "champion", challenger)
    model.client.delete_registered_model_alias(model_name, "challenger")
    return True


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}")
    model = _Model(tracking_uri, model_name)
    aliases = model.client.get_registered_model(model_name).aliases
    table = []
    for v in model.versions():
        version = str(v.version)
        table.append({"version": version,
                      "aliases": sorted(a for a, target in aliases.items() if str(target) == version),
                      "run_id": v.run_id,
                      "score": model.score(version, X_test, y_test, metric)})
    table.sort(key=lambda row: int(row["version"]))
    table.sort(key=lambda row: row["score"], reverse=True)  # stable: ties keep version order
    return table


def rollback(tracking_uri: str, model_name: str) -> str:
    model = _Model(tracking_uri, model_name)
    terms = model.terms()
    champion = model.alias("champion")
    if terms and champion is not None and champion != terms[-1][1]:
        # the current champion never had a recorded term (set by hand): the last term is the one before it
        model.client.set_registered_model_alias(model_name, "champion", terms[-1][1])
        return terms[-1][1]
    if len(terms) < 2:
        raise LookupError(f"{model_name!r} has no earlier champion")
    seq, current = terms[-1]
    previous = terms[-2][1]
    model.drop_term(current, seq)
    model.client.set_registered_model_alias(model_name, "champion", previous)
    return previous
