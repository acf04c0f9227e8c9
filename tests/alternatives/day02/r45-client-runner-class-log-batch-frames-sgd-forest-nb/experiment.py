"""Day 02 answer, style B: numpy Generator data, a runner class, MlflowClient.log_batch, DataFrame inputs."""

from __future__ import annotations

import hashlib
import time

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 6, 0.3


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)          # refuses negatives and non-integers itself
    X = rng.normal(size=(N_ROWS, N_FEATURES)) * rng.uniform(0.5, 3.0, size=N_FEATURES) + rng.normal(size=N_FEATURES)
    weights = rng.normal(size=N_FEATURES)
    logits = (X - X.mean(axis=0)) @ weights + rng.normal(scale=1.5, size=N_ROWS)
    y = (logits > 0).astype(np.int64)
    test_idx, train_idx = [], []
    for label in (0, 1):                       # stratified split by hand
        rows = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(rows) * TEST_SHARE))
        test_idx.append(rows[:cut])
        train_idx.append(rows[cut:])
    train, test = rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))
    return X[train].copy(), X[test].copy(), y[train].copy(), y[test].copy()


def fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = repr((position, array.dtype.str, tuple(array.shape))).encode()
        h.update(len(header).to_bytes(8, "little") + header)
        h.update(array.tobytes(order="C"))
    return h.hexdigest()


class _Runner:
    """One call of run_experiment: the store, the experiment, the data, the models."""

    TRUSTED = ["sklearn.tree._tree.Tree"]

    def __init__(self, tracking_uri: str, experiment_name: str, seed: int, artifact_location: str | None):
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        self.client = mlflow.MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (found.experiment_id if found is not None
                              else self.client.create_experiment(experiment_name, artifact_location=artifact_location))
        self.seed = seed
        X_train, X_test, self.y_train, self.y_test = make_dataset(seed)
        self.tag = fingerprint(X_train, X_test, self.y_train, self.y_test)
        import pandas as pd

        columns = [f"feature_{i}" for i in range(X_train.shape[1])]
        self.X_train = pd.DataFrame(X_train, columns=columns)
        self.X_test = pd.DataFrame(X_test, columns=columns)

    def estimator_state(self) -> int:
        return int(np.random.SeedSequence(self.seed).generate_state(1)[0])

    def models(self) -> dict:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.linear_model import SGDClassifier

        state = self.estimator_state()
        return {
            "linear-svm": Pipeline([("scale", StandardScaler()),
                                    ("svm", SGDClassifier(loss="hinge", alpha=1e-3, random_state=state))]),
            "forest": RandomForestClassifier(n_estimators=60, max_depth=6, random_state=state),
            "naive-bayes": GaussianNB(),
        }

    def score(self, model) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        predicted = model.predict(self.X_test)
        ranking = (model.predict_proba(self.X_test)[:, 1] if hasattr(model, "predict_proba")
                   else model.decision_function(self.X_test))
        return {"accuracy": float(accuracy_score(self.y_test, predicted)),
                "f1": float(f1_score(self.y_test, predicted)),
                "roc_auc": float(roc_auc_score(self.y_test, ranking))}

    def one_run(self, run_name: str, model) -> str:
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature

        mlflow = self.mlflow
        nested = mlflow.active_run() is not None
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=run_name, nested=nested) as run:
            run_id = run.info.run_id
            self.made.append(run_id)
            model.fit(self.X_train, self.y_train)
            metrics = self.score(model)
            now = int(time.time() * 1000)
            params = [Param(k, str(v)) for k, v in model.get_params(deep=True).items()
                      if v is None or isinstance(v, (bool, int, float, str))]
            self.client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                                  params=params, tags=[RunTag("dataset_fingerprint", self.tag)])
            mlflow.sklearn.log_model(model, name="model",
                                     signature=infer_signature(self.X_train, model.predict(self.X_train)),
                                     input_example=self.X_train.head(3),
                                     pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                     skops_trusted_types=self.TRUSTED)
        return run_id

    def run_all(self) -> list[str]:
        from mlflow.utils.autologging_utils import disable_autologging

        self.made: list[str] = []
        with disable_autologging():
            for name, model in self.models().items():
                self.one_run(name, model)
        return list(self.made)


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    return _Runner(tracking_uri, experiment_name, seed, artifact_location).run_all()


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    page = client.search_runs(experiment_ids=[experiment.experiment_id],
                              filter_string="metrics.`%s` >= -1e308" % metric,
                              order_by=["metrics.`%s` DESC" % metric, "attributes.start_time ASC"],
                              max_results=1)
    for run in page:
        return run.info.run_id
    raise LookupError(f"{experiment_name!r} has no run with {metric!r}")
