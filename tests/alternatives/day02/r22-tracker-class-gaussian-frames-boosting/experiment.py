"""Day 02: tracked model comparison (a tracker class, MlflowClient records, DataFrame signature)."""

from __future__ import annotations

import hashlib
import json

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 800, 6, 0.3


def make_dataset(seed: int = 0):
    """Two overlapping Gaussian classes drawn from a generator of our own, split per class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=N_ROWS)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = centres[y] + rng.normal(0.0, 1.5, size=(N_ROWS, N_FEATURES))
    test_rows = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        test_rows.extend(rng.choice(rows, size=round(len(rows) * TEST_SHARE), replace=False))
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_rows] = True
    return X[~is_test], X[is_test], y[~is_test].astype(np.int32), y[is_test].astype(np.int32)


def fingerprint(*arrays):
    digest = hashlib.sha256()
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = json.dumps({"n": position, "dtype": array.dtype.str, "shape": list(array.shape)})
        digest.update(len(header).to_bytes(8, "little") + header.encode())
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def _plain(value):
    return value is None or isinstance(value, (bool, int, float, str))


class Tracker:
    """Talks to one tracking store; every call looks the experiment up afresh."""

    TRUSTED = ["sklearn.tree._tree.Tree", "sklearn._loss.loss.HalfBinomialLoss",
               "sklearn.ensemble._gb.GradientBoostingClassifier"]

    def __init__(self, tracking_uri):
        import mlflow

        self.uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri)

    def experiment_id(self, name, artifact_location=None, create=False):
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        if not create:
            raise LookupError(f"no experiment named {name!r}")
        return self.client.create_experiment(name, artifact_location=artifact_location)

    @staticmethod
    def candidates(seed):
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        return {
            "svc": Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf", C=2.0))]),
            "boosting": GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=seed),
            "naive-bayes": GaussianNB(),
            "logreg-strong": LogisticRegression(C=0.1, max_iter=500),
            "logreg-weak": LogisticRegression(C=10.0, max_iter=500),
        }

    def log_one(self, experiment_id, run_name, model, data, tag):
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from mlflow.utils.time import get_current_time_millis
        from sklearn import metrics as m

        X_train, X_test, y_train, y_test = data
        columns = [f"feature_{i}" for i in range(X_train.shape[1])]
        frame_train = pd.DataFrame(X_train, columns=columns)
        frame_test = pd.DataFrame(X_test, columns=columns)
        model.fit(frame_train, y_train)
        labels = model.predict(frame_test)
        if hasattr(model, "predict_proba"):
            ranking = model.predict_proba(frame_test)[:, 1]
        else:
            ranking = model.decision_function(frame_test)
        values = {"accuracy": m.accuracy_score(y_test, labels), "f1": m.f1_score(y_test, labels, pos_label=1),
                  "roc_auc": m.roc_auc_score(y_test, ranking)}
        # ends FAILED if anything below raises
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            run_id = run.info.run_id
            computed_at = get_current_time_millis()   # inside the run: its metrics are stamped within it
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), computed_at, 0) for k, v in values.items()],
                params=[Param(k, str(v)) for k, v in model.get_params().items() if _plain(v)],
                tags=[RunTag("dataset_fingerprint", tag)])
            mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(frame_train, model.predict(frame_train)),
                input_example=frame_train.head(3),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=self.TRUSTED)
        return run_id


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
        tracker = Tracker(tracking_uri)
        experiment_id = tracker.experiment_id(experiment_name, artifact_location, create=True)
        data = make_dataset(seed)
        tag = fingerprint(*data)
        return [tracker.log_one(experiment_id, name, model, data, tag)
                for name, model in Tracker.candidates(seed).items()]


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    from mlflow.entities import ViewType

    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id(experiment_name)
    top = tracker.client.search_runs([experiment_id], order_by=[f"metrics.`{metric}` DESC"],
                                     run_view_type=ViewType.ACTIVE_ONLY, max_results=1)
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return top[0].info.run_id
