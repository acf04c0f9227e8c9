"""Day 02: an experiment tracker class over MlflowClient, data drawn by hand with numpy."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

N_ROWS = 500
N_FEATURES = 6
TEST_SHARE = 0.2


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (np.arange(N_ROWS) % 2).astype(np.int64)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = centres[y] + rng.normal(0.0, 1.5, size=(N_ROWS, N_FEATURES))
    # stratified split, by hand: the same share of each class goes to the test rows
    test_rows = []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y == label))
        test_rows.extend(members[: int(round(len(members) * TEST_SHARE))])
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_rows] = True
    return X[~is_test], X[is_test], y[~is_test], y[is_test]


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(len(arrays).to_bytes(4, "little"))
    for array in arrays:
        header = {"dtype": np.asarray(array).dtype.str, "shape": list(np.shape(array))}
        digest.update(repr(header).encode("utf-8"))
        digest.update(np.asarray(array).tobytes(order="C"))
    return digest.hexdigest()


@dataclass
class Split:
    X_train: object
    X_test: object
    y_train: np.ndarray
    y_test: np.ndarray


class ExperimentTracker:
    def __init__(self, tracking_uri: str):
        import mlflow

        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri)

    def experiment_id(self, name: str, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(name, artifact_location=artifact_location)

    @staticmethod
    def candidates(seed: int):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.naive_bayes import GaussianNB
        from sklearn.svm import LinearSVC

        return {
            "random-forest": RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed),
            "gaussian-nb": GaussianNB(),
            "linear-svc": LinearSVC(C=0.5, random_state=seed),
        }

    @staticmethod
    def score(model, split: Split) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        predicted = model.predict(split.X_test)
        if hasattr(model, "predict_proba"):
            ranking = model.predict_proba(split.X_test)[:, 1]
        else:
            ranking = model.decision_function(split.X_test)
        return {"accuracy": float(accuracy_score(split.y_test, predicted)),
                "f1": float(f1_score(split.y_test, predicted, pos_label=1)),
                "roc_auc": float(roc_auc_score(split.y_test, ranking))}

    def log_one(self, experiment_id: str, name: str, model, split: Split, tag: str) -> str:
        import mlflow
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from mlflow.utils.time import get_current_time_millis

        # the with block ends the run FAILED on any exception, KeyboardInterrupt included
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
            run_id = run.info.run_id
            model.fit(split.X_train, split.y_train)
            params = [Param(k, str(v)) for k, v in model.get_params().items()
                      if v is None or isinstance(v, (bool, int, float, str))]
            scores = self.score(model, split)
            now = get_current_time_millis()
            metrics = [Metric(k, v, now, 0) for k, v in scores.items()]
            self.client.log_batch(run_id, metrics=metrics, params=params,
                                  tags=[RunTag("dataset_fingerprint", tag)])
            mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(split.X_train, model.predict(split.X_train)),
                input_example=split.X_train.iloc[:3],
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=["sklearn.tree._tree.Tree"])
        return run_id

    def run(self, experiment_name: str, seed: int, artifact_location: str | None) -> list[str]:
        import mlflow
        import pandas as pd

        mlflow.set_tracking_uri(self.tracking_uri)
        experiment_id = self.experiment_id(experiment_name, artifact_location)
        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        columns = [f"x{i}" for i in range(X_train.shape[1])]
        split = Split(pd.DataFrame(X_train, columns=columns), pd.DataFrame(X_test, columns=columns),
                      y_train, y_test)
        return [self.log_one(experiment_id, name, model, split, tag)
                for name, model in self.candidates(seed).items()]

    def best(self, experiment_name: str, metric: str) -> str:
        from mlflow.entities import ViewType

        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise LookupError(f"there is no experiment {experiment_name!r}")
        key = f"metrics.`{metric}`"
        top = self.client.search_runs([experiment.experiment_id], filter_string=f"{key} >= -1e308",
                                      run_view_type=ViewType.ACTIVE_ONLY,
                                      order_by=[f"{key} DESC"], max_results=1)
        if not top:
            raise LookupError(f"no run of {experiment_name!r} has the metric {metric!r}")
        return top[0].info.run_id


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        return ExperimentTracker(tracking_uri).run(experiment_name, seed, artifact_location)


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    return ExperimentTracker(tracking_uri).best(experiment_name, metric)
