"""Day 02, answer B: hand-made data, a tracker class on MlflowClient, DataFrame signatures, pipelines."""

from __future__ import annotations

import hashlib
import struct

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 520, 5, 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=N_ROWS)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = centres[labels] + rng.normal(0.0, 1.6, size=(N_ROWS, N_FEATURES))
    test_rows = []
    for cls in (0, 1):
        rows = np.flatnonzero(labels == cls)
        rows = rng.permutation(rows)
        test_rows.extend(rows[: int(round(len(rows) * TEST_SHARE))].tolist())
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_rows] = True
    y = labels.astype(np.int32)
    return X[~is_test].copy(), X[is_test].copy(), y[~is_test].copy(), y[is_test].copy()


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    h.update(struct.pack("<q", len(arrays)))
    for a in arrays:
        a = np.asarray(a)
        header = a.dtype.str.encode()
        h.update(struct.pack("<q", len(header)) + header)
        h.update(struct.pack("<q", a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape))
        h.update(a.tobytes(order="C"))
    return h.hexdigest()


class _Tracker:
    """Everything one call of run_experiment needs: the client, the experiment, the data."""

    def __init__(self, tracking_uri, experiment_name, seed, artifact_location):
        import mlflow
        import pandas as pd

        mlflow.set_tracking_uri(tracking_uri)
        self.mlflow = mlflow
        self.client = mlflow.MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (found.experiment_id if found is not None
                              else self.client.create_experiment(experiment_name, artifact_location=artifact_location))
        self.seed = seed
        X_train, X_test, y_train, y_test = make_dataset(seed)
        self.tag = fingerprint(X_train, X_test, y_train, y_test)
        columns = [f"feature_{i}" for i in range(X_train.shape[1])]
        self.X_train = pd.DataFrame(X_train, columns=columns)
        self.X_test = pd.DataFrame(X_test, columns=columns)
        self.y_train, self.y_test = y_train, y_test

    def candidates(self):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        return {
            "scaled-logreg": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]),
            "forest": RandomForestClassifier(n_estimators=40, max_depth=6, random_state=self.seed),
            "naive-bayes": GaussianNB(),
            "scaled-linear-svm": Pipeline([("scale", StandardScaler()),
                                           ("clf", LinearSVC(C=0.2, random_state=self.seed))]),
        }

    def metrics(self, model):
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        predicted = model.predict(self.X_test)
        scores = (model.predict_proba(self.X_test)[:, 1] if hasattr(model, "predict_proba")
                  else model.decision_function(self.X_test))
        return {"accuracy": float(accuracy_score(self.y_test, predicted)),
                "f1": float(f1_score(self.y_test, predicted, pos_label=1)),
                "roc_auc": float(roc_auc_score(self.y_test, scores))}

    def log_one(self, name, model) -> str:
        import time

        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature

        model.fit(self.X_train, self.y_train)
        # ends FAILED if anything below raises
        with self.mlflow.start_run(experiment_id=self.experiment_id, run_name=name) as run:
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            params = [Param(k, str(v)) for k, v in model.get_params().items()
                      if v is None or isinstance(v, (bool, int, float, str))]
            metrics = [Metric(k, v, now, 0) for k, v in self.metrics(model).items()]
            self.client.log_batch(run_id, metrics=metrics, params=params,
                                  tags=[RunTag("dataset_fingerprint", self.tag)])
            self.mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(self.X_train, model.predict(self.X_train)),
                input_example=self.X_train.head(3),
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
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    top = client.search_runs(experiment_ids=[experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY,
                             order_by=[f"metrics.`{metric}` DESC", "attributes.start_time ASC"], max_results=1)
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"no run of {experiment_name!r} has the metric {metric!r}")
    return top[0].info.run_id
