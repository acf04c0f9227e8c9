"""Registry workflow as a small class; the champion history lives in version tags."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

SEQ_PREFIX = "served_as_champion_"


def _roc_auc(model, X, y):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y, model.predict_proba(X)[:, 1])


def _accuracy(model, X, y):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y, model.predict(X))


def _f1(model, X, y):
    from sklearn.metrics import f1_score
    return f1_score(y, model.predict(X))


SCORERS = {"roc_auc": _roc_auc, "accuracy": _accuracy, "f1": _f1}


@contextmanager
def _pointing_at(uri):
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
    def __init__(self, tracking_uri: str, name: str | None = None):
        from mlflow import MlflowClient

        self.uri = tracking_uri
        self.name = name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # --- scoring -------------------------------------------------------
    def score(self, model_uri, X, y, metric):
        scorer = SCORERS.get(metric) if isinstance(metric, str) else None
        if scorer is None:
            raise ValueError(f"metric must be one of {sorted(SCORERS)}, not {metric!r}")
        import mlflow.sklearn

        with _pointing_at(self.uri):
            model = mlflow.sklearn.load_model(model_uri)
        return float(scorer(model, X, y))

    def score_version(self, version, X, y, metric):
        return self.score(f"models:/{self.name}/{version}", X, y, metric)

    # --- aliases -------------------------------------------------------
    def aliases(self) -> dict[str, str]:
        return {a: str(v) for a, v in self.client.get_registered_model(self.name).aliases.items()}

    # --- versions ------------------------------------------------------
    def versions(self) -> list:
        # Unfiltered, page by page, kept by exact name: a filter string cannot quote a name with ' and ".
        out, page = [], self.client.search_model_versions()
        out += [mv for mv in page if mv.name == self.name]
        while page.token:
            page = self.client.search_model_versions(page_token=page.token)
            out += [mv for mv in page if mv.name == self.name]
        return out

    # --- history in version tags --------------------------------------
    def entries(self) -> list[tuple[int, str]]:
        found = []
        for mv in self.versions():
            tags = self.client.get_model_version(self.name, mv.version).tags
            for key in tags:
                if key.startswith(SEQ_PREFIX):
                    found.append((int(key[len(SEQ_PREFIX):]), str(mv.version)))
        return sorted(found)

    def record(self, version, seq):
        self.client.set_model_version_tag(self.name, version, f"{SEQ_PREFIX}{seq:08d}", "true")

    # --- workflow ------------------------------------------------------
    def register(self, run_id) -> str:
        run = self.client.get_run(run_id)
        logged = self.client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                                  filter_string=f"source_run_id = '{run_id}'")
        if len(logged) == 0:
            raise LookupError(f"run {run_id} has no logged model")
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            self.client.create_registered_model(self.name)
        mv = self.client.create_model_version(self.name, source=logged[0].artifact_location, run_id=run_id,
                                              model_id=logged[0].model_id)
        self.client.set_registered_model_alias(self.name, "challenger", mv.version)
        return str(mv.version)

    def promote(self, X, y, metric, margin) -> bool:
        if margin != margin or margin < 0:
            raise ValueError(f"margin must be zero or more, not {margin!r}")
        aliases = self.aliases()
        challenger, champion = aliases.get("challenger"), aliases.get("champion")
        if challenger is None:
            raise LookupError(f"{self.name} has no challenger")
        if challenger == champion:
            return False
        if champion is not None:
            gain = self.score_version(challenger, X, y, metric) - self.score_version(champion, X, y, metric)
            if not gain > margin:
                return False
        entries = self.entries()
        seq = entries[-1][0] + 1 if entries else 1
        if champion is not None and (not entries or entries[-1][1] != champion):
            self.record(champion, seq)
            seq += 1
        self.record(challenger, seq)
        self.client.set_registered_model_alias(self.name, "champion", challenger)
        self.client.delete_registered_model_alias(self.name, "challenger")
        return True

    def table(self, X, y, metric):
        by_version: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            by_version.setdefault(version, []).append(alias)
        rows = [{"version": str(mv.version), "aliases": sorted(by_version.get(str(mv.version), [])),
                 "run_id": mv.run_id, "score": self.score_version(mv.version, X, y, metric)}
                for mv in self.versions()]
        rows.sort(key=lambda r: int(r["version"]))
        rows.sort(key=lambda r: r["score"], reverse=True)
        return rows

    def step_back(self) -> str:
        entries = self.entries()
        champion = self.aliases().get("champion")
        if entries and champion is not None and champion != entries[-1][1]:
            # moved by hand after the last promotion: step back to the last recorded one, keep its tag
            self.client.set_registered_model_alias(self.name, "champion", entries[-1][1])
            return entries[-1][1]
        if len(entries) < 2:
            raise LookupError(f"{self.name} has no earlier champion")
        (seq, current), (_, previous) = entries[-1], entries[-2]
        self.client.set_registered_model_alias(self.name, "champion", previous)
        self.client.delete_model_version_tag(self.name, current, f"{SEQ_PREFIX}{seq:08d}")
        return previous


def evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc"):
    return Registry(tracking_uri).score(model_uri, X_test, y_test, metric)


def register_challenger(tracking_uri, run_id, model_name):
    return Registry(tracking_uri, model_name).register(run_id)


def promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc", margin=0.01):
    return Registry(tracking_uri, model_name).promote(X_test, y_test, metric, margin)


def compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc"):
    return Registry(tracking_uri, model_name).table(X_test, y_test, metric)


def rollback(tracking_uri, model_name):
    return Registry(tracking_uri, model_name).step_back()
