"""Day 02 answer, style B: hand-rolled NumPy data, a tracker class, DataFrame signatures, log_batch."""

from __future__ import annotations

import hashlib
import time

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 6, 0.25


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)   # refuses negatives and non-integers itself
    y = np.repeat(np.array([0, 1], dtype=np.int64), N_ROWS // 2)
    rng.shuffle(y)
    shift = rng.normal(0.0, 1.0, size=N_FEATURES)
    X = rng.normal(size=(N_ROWS, N_FEATURES)) + np.outer(y, shift)
    test_idx = []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        test_idx.extend(rows[: int(round(len(rows) * TEST_SHARE))])
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_idx] = True
    return X[~is_test], X[is_test], y[~is_test], y[is_test]


def fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.array(a, order="C", copy=True)   # keeps a 0-d array 0-d
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


class _Tracker:
    """One call of run_experiment: where to log, and the data every run sees."""

    def __init__(self, tracking_uri, experiment_name, seed, artifact_location):
        import mlflow
        import pandas as pd

        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        self.client = mlflow.MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (found.experiment_id if found is not None else
                              self.client.create_experiment(experiment_name, artifact_location=artifact_location))
        self.seed = seed
        X_train, X_test, self.y_train, self.y_test = make_dataset(seed)
        self.tag = fingerprint(X_train, X_test, self.y_train, self.y_test)
        columns = [f"f{i}" for i in range(X_train.shape[1])]
        self.X_train = pd.DataFrame(X_train, columns=columns)
        self.X_test = pd.DataFrame(X_test, columns=columns)

    def candidates(self):
        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        return {
            "gaussian-nb": GaussianNB(),
            "svc": Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf", C=1.0))]),
            "extra-trees": ExtraTreesClassifier(n_estimators=40, random_state=self.seed),
        }

    def _scores(self, model):
        if hasattr(model, "predict_proba"):
            return model.predict_proba(self.X_test)[:, 1]
        return model.decision_function(self.X_test)

    def log_one(self, name, model) -> str:
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        with self.mlflow.start_run(experiment_id=self.experiment_id, run_name=name) as run:
            run_id = run.info.run_id
            model.fit(self.X_train, self.y_train)
            predicted = model.predict(self.X_test)
            values = {"accuracy": accuracy_score(self.y_test, predicted),
                      "f1": f1_score(self.y_test, predicted),
                      "roc_auc": roc_auc_score(self.y_test, self._scores(model))}
            now = int(time.time() * 1000)
            params = [Param(k, str(v)) for k, v in model.get_params().items()
                      if v is None or isinstance(v, (bool, int, float, str))]
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                                  params=params, tags=[RunTag("dataset_fingerprint", self.tag)])
            self.mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(self.X_train, model.predict(self.X_train)),
                input_example=self.X_train.head(5),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=["sklearn.tree._tree.Tree"])
        return run_id


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        tracker = _Tracker(tracking_uri, experiment_name, seed, artifact_location)
        return [tracker.log_one(name, model) for name, model in tracker.candidates().items()]


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is None:
        raise LookupError(experiment_name)
    quoted = f"metrics.`{metric}`"
    page = client.search_runs(experiment_ids=[found.experiment_id], filter_string=f"{quoted} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY,
                              order_by=[f"{quoted} DESC", "attributes.start_time ASC"], max_results=1)
    if len(page) == 0:
        raise LookupError(f"{experiment_name!r} has no run with metric {metric!r}")
    return page[0].info.run_id
