"""Day 02 answer, style: numpy Generator data, a Tracker class logging metrics via MlflowClient.log_batch,
DataFrame (named-column) signature, Pipeline/forest/naive Bayes models."""

from __future__ import annotations

import hashlib
import numbers
import time

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 6, 0.3


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"a seed is a whole number, not {seed!r}")
    if not 0 <= int(seed) <= 2**32 - 1:
        raise ValueError(f"seed {seed} is outside 0..2**32-1")
    rng = np.random.default_rng(int(seed))
    y = np.repeat(np.array([0, 1], dtype=np.int64), N_ROWS // 2)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = rng.normal(0.0, 1.5, size=(N_ROWS, N_FEATURES)) + centres[y]
    # stratified split by hand: per class, a seeded permutation, the first 30 % held out
    test_idx, train_idx = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(rows) * TEST_SHARE))
        test_idx.append(rows[:cut])
        train_idx.append(rows[cut:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return X[train].copy(), X[test].copy(), y[train].copy(), y[test].copy()


def fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(len(arrays)).encode())
    for a in map(np.asarray, arrays):
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes(order="C"))
    return h.hexdigest()


class Tracker:
    """One object per call: the store, the experiment, the data."""

    def __init__(self, tracking_uri, experiment_name, seed, artifact_location):
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        self.client = mlflow.MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment_name, artifact_location=artifact_location)
        self.seed = seed
        self.data = make_dataset(seed)
        self.tag = fingerprint(*self.data)

    def models(self):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        return {
            "logreg": Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(C=0.5))]),
            "forest": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=self.seed),
            "nb": GaussianNB(),
        }

    @staticmethod
    def plain_params(model):
        return {k: v for k, v in model.get_params().items()
                if v is None or isinstance(v, (bool, int, float, str))}

    def score(self, model):
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        _, X_test, _, y_test = self.data
        predicted = model.predict(X_test)
        proba = model.predict_proba(X_test)[:, 1]
        return {"accuracy": float(accuracy_score(y_test, predicted)), "f1": float(f1_score(y_test, predicted)),
                "roc_auc": float(roc_auc_score(y_test, proba))}

    def log_one(self, name, model):
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = self.data
        columns = [f"x{i}" for i in range(X_train.shape[1])]
        frame = pd.DataFrame(X_train, columns=columns)
        with self.mlflow.start_run(experiment_id=self.experiment_id, run_name=name,
                                   nested=self.mlflow.active_run() is not None) as run:
            run_id = run.info.run_id
            model.fit(X_train, y_train)
            now = int(time.time() * 1000)
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, v, now, 0) for k, v in self.score(model).items()],
                params=[Param(k, str(v)) for k, v in self.plain_params(model).items()])
            self.client.set_tag(run_id, "dataset_fingerprint", self.tag)
            self.mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(frame, model.predict(X_train)),
                input_example=frame.head(5), pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=["sklearn.tree._tree.Tree"])
        return run_id

    def run_all(self):
        return [self.log_one(name, model) for name, model in self.models().items()]


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        return Tracker(tracking_uri, experiment_name, seed, artifact_location).run_all()


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        raise LookupError(experiment_name)
    key = "metrics.`" + metric.replace("`", "\\`") + "`"
    page = client.search_runs(experiment_ids=[exp.experiment_id], filter_string=f"{key} >= -1e308",
                              order_by=[f"{key} DESC", "attributes.start_time ASC"], max_results=1)
    if len(page) == 0:
        raise LookupError(f"{metric} not logged in {experiment_name}")
    return page[0].info.run_id
