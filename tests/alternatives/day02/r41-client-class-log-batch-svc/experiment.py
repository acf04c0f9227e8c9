"""Day 02 answer, class + MlflowClient style: numpy Generator data, manual stratified split,
DataFrame (named-column) signature, params/metrics/tags through MlflowClient.log_batch."""

from __future__ import annotations

import hashlib
import time

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 6, 0.2
SHIFT = np.array([1.0, 0.7, 0.5, 0.0, 0.0, 0.0])


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)   # refuses floats and negative seeds
    y = rng.integers(0, 2, size=N_ROWS).astype(np.int64)
    X = rng.normal(size=(N_ROWS, N_FEATURES)) + y[:, None] * SHIFT
    test = np.zeros(N_ROWS, dtype=bool)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        test[rows[: int(round(len(rows) * TEST_SHARE))]] = True
    return X[~test], X[test], y[~test], y[test]


class _Digest:
    def __init__(self):
        self._sha = hashlib.sha256()

    def add(self, array):
        array = np.asarray(array)
        header = repr((array.dtype.str, tuple(array.shape))).encode()
        self._sha.update(len(header).to_bytes(8, "little") + header)
        self._sha.update(array.tobytes(order="C"))

    def hexdigest(self):
        return self._sha.hexdigest()


def fingerprint(*arrays) -> str:
    digest = _Digest()
    for array in arrays:
        digest.add(array)
    return digest.hexdigest()


class _Tracker:
    """One call of run_experiment: the client, the experiment, the data."""

    def __init__(self, tracking_uri, experiment_name, seed, artifact_location):
        import mlflow
        import pandas as pd

        mlflow.set_tracking_uri(tracking_uri)
        self.mlflow = mlflow
        self.client = mlflow.MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (found.experiment_id if found is not None else
                              self.client.create_experiment(experiment_name, artifact_location=artifact_location))
        X_train, X_test, self.y_train, self.y_test = make_dataset(seed)
        self.tag = fingerprint(X_train, X_test, self.y_train, self.y_test)
        columns = [f"f{i}" for i in range(X_train.shape[1])]
        self.X_train = pd.DataFrame(X_train, columns=columns)
        self.X_test = pd.DataFrame(X_test, columns=columns)
        self.seed = seed

    def estimators(self):
        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        return {
            "scaled-logreg": Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())]),
            "extra-trees": ExtraTreesClassifier(n_estimators=25, max_depth=6, random_state=self.seed),
            "naive-bayes": GaussianNB(),
            "linear-svc": LinearSVC(random_state=self.seed),
        }

    def score(self, model):
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        predicted = model.predict(self.X_test)
        ranking = (model.predict_proba(self.X_test)[:, 1] if hasattr(model, "predict_proba")
                   else model.decision_function(self.X_test))
        return {"accuracy": accuracy_score(self.y_test, predicted), "f1": f1_score(self.y_test, predicted),
                "roc_auc": roc_auc_score(self.y_test, ranking)}

    def log_one(self, name, model):
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature

        with self.mlflow.start_run(experiment_id=self.experiment_id, run_name=name, nested=True) as run:
            run_id = run.info.run_id
            model.fit(self.X_train, self.y_train)
            params = [Param(key, str(value)) for key, value in model.get_params().items()
                      if value is None or isinstance(value, (bool, int, float, str))]
            now = int(time.time() * 1000)
            metrics = [Metric(key, float(value), now, 0) for key, value in self.score(model).items()]
            self.client.log_batch(run_id, metrics=metrics, params=params,
                                  tags=[RunTag("dataset_fingerprint", self.tag)])
            self.mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(self.X_train, model.predict(self.X_train)),
                input_example=self.X_train.head(3),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=["sklearn.tree._tree.Tree"])
        return run_id

    def run(self):
        return [self.log_one(name, model) for name, model in self.estimators().items()]


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        return _Tracker(tracking_uri, experiment_name, seed, artifact_location).run()


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    quoted = "`" + metric + "`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id],
                              filter_string=f"metrics.{quoted} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY,
                              order_by=[f"metrics.{quoted} DESC", "attributes.start_time ASC"],
                              max_results=1)
    if len(page) == 0:
        raise LookupError(f"{experiment_name!r} has no run with {metric!r}")
    return page[0].info.run_id
