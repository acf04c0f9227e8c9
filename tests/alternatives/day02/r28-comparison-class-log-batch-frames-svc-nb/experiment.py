"""Day 02, another way: hand-made data, a class per comparison, DataFrames, client-side logging."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

N_ROWS = 800
N_FEATURES = 6
TEST_SHARE = 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng([seed, 20260202])
    labels = np.repeat(np.array([0, 1], dtype=np.int64), N_ROWS // 2)
    shift = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = rng.normal(0.0, 1.5, size=(N_ROWS, N_FEATURES)) + shift[labels]
    test_rows = []
    for label in (0, 1):   # stratified: the same share of each class held out
        rows = np.flatnonzero(labels == label)
        test_rows.extend(rng.choice(rows, size=int(len(rows) * TEST_SHARE), replace=False))
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_rows] = True
    train_order = rng.permutation(np.flatnonzero(~is_test))
    test_order = rng.permutation(np.flatnonzero(is_test))
    return X[train_order], X[test_order], labels[train_order], labels[test_order]


def fingerprint(*arrays) -> str:
    h = hashlib.new("sha256")
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = json.dumps({"i": position, "dtype": array.dtype.str, "shape": list(array.shape)})
        h.update(header.encode() + b"\0")
        h.update(array.tobytes(order="C"))
    return h.hexdigest()


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


class Comparison:
    """Trains a few classifiers on one data set and records each in its own MLflow run."""

    def __init__(self, tracking_uri: str, experiment_name: str, seed: int, artifact_location: str | None):
        import mlflow

        self.mlflow = mlflow
        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri)
        self.seed = seed
        self.experiment_id = self._experiment(experiment_name, artifact_location)
        X_train, X_test, y_train, y_test = make_dataset(seed)
        self.tag = fingerprint(X_train, X_test, y_train, y_test)
        columns = [f"feature_{i}" for i in range(X_train.shape[1])]
        import pandas as pd

        self.train = pd.DataFrame(X_train, columns=columns), y_train
        self.test = pd.DataFrame(X_test, columns=columns), y_test

    def _experiment(self, name, artifact_location) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(name, artifact_location=artifact_location)

    def candidates(self):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        return {
            "scaled-svm": Pipeline([("scale", StandardScaler()), ("svm", SVC(C=0.5))]),
            "forest": RandomForestClassifier(n_estimators=40, max_depth=6, random_state=self.seed),
            "naive-bayes": GaussianNB(),
        }

    @staticmethod
    def _scores(model, X):
        if hasattr(model, "predict_proba"):
            return model.predict_proba(X)[:, 1]
        return model.decision_function(X)

    def _record(self, name, model) -> str:
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        X_train, y_train = self.train
        X_test, y_test = self.test
        model.fit(X_train, y_train)
        predicted = model.predict(X_test)
        scores = {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
                  "roc_auc": roc_auc_score(y_test, self._scores(model, X_test))}
        self.mlflow.set_tracking_uri(self.tracking_uri)
        with self.mlflow.start_run(experiment_id=self.experiment_id, run_name=name) as run:
            run_id = run.info.run_id
            params = [Param(k, str(v)) for k, v in model.get_params().items() if _plain(v)]
            for start in range(0, len(params), 100):
                self.client.log_batch(run_id, params=params[start:start + 100])
            stamp = int(run.info.start_time)
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in scores.items()],
                                  tags=[RunTag("dataset_fingerprint", self.tag)])
            self.mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(X_train, model.predict(X_train)),
                input_example=X_train.head(5),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        return run_id

    def run(self) -> list[str]:
        return [self._record(name, model) for name, model in self.candidates().items()]


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        return Comparison(tracking_uri, experiment_name, seed, artifact_location).run()


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"there is no experiment {experiment_name!r}")
    # Sorting puts runs without the metric last, so the top run tells whether any run has it.
    top = client.search_runs([experiment.experiment_id], order_by=[f"metrics.`{metric}` DESC"], max_results=1)
    if not top or metric not in top[0].data.metrics or math.isnan(top[0].data.metrics[metric]):
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return top[0].info.run_id
