"""Correct answer C: a real data set (breast cancer), seeded stratified shuffle split,
named-column signature, margin-based ROC AUC, pandas search for the best run."""

from __future__ import annotations

import hashlib
import json

import numpy as np


def _raw():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return data.data, data.target.astype(np.int64), list(data.feature_names)


def make_dataset(seed: int = 0):
    from sklearn.model_selection import StratifiedShuffleSplit

    X, y, _ = _raw()
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
    train, test = next(splitter.split(X, y))
    return X[train], X[test], y[train], y[test]


def fingerprint(*arrays):
    h = hashlib.sha256()
    for index, array in enumerate(arrays):
        array = np.asarray(array, order="C")
        header = json.dumps({"i": index, "dtype": array.dtype.str, "shape": list(array.shape)})
        h.update(header.encode() + b"\0")
        h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def _experiment_id(client, name, artifact_location):
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.models import infer_signature
        from sklearn import metrics
        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        mlflow.set_tracking_uri(tracking_uri)
        experiment_id = _experiment_id(mlflow.MlflowClient(tracking_uri), experiment_name, artifact_location)
        X_train, X_test, y_train, y_test = make_dataset(seed)
        columns = _raw()[2]
        frame = pd.DataFrame(X_train, columns=columns)

        def evaluate(model):
            predicted = model.predict(X_test)
            ranking = (model.decision_function(X_test) if not hasattr(model, "predict_proba")
                       else model.predict_proba(X_test)[:, 1])
            return {"accuracy": metrics.accuracy_score(y_test, predicted),
                    "f1": metrics.f1_score(y_test, predicted),
                    "roc_auc": metrics.roc_auc_score(y_test, ranking)}

        models = (SVC(C=1.0, kernel="rbf"),
                  ExtraTreesClassifier(n_estimators=40, random_state=seed),
                  make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5, algorithm="brute")))
        out = []
        for model in models:
            run = mlflow.start_run(experiment_id=experiment_id, run_name=type(model).__name__)
            try:
                model.fit(X_train, y_train)
                for key, value in model.get_params().items():
                    mlflow.log_param(key, value)
                for key, value in evaluate(model).items():
                    mlflow.log_metric(key, value)
                mlflow.set_tag("dataset_fingerprint", fingerprint(X_train, X_test, y_train, y_test))
                mlflow.sklearn.log_model(model, name="model",
                                         signature=infer_signature(frame, model.predict(X_train)),
                                         input_example=frame.head(2),
                                         pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                         skops_trusted_types=["sklearn.tree._tree.Tree"])
            except BaseException:
                mlflow.end_run(status="FAILED")
                raise
            mlflow.end_run()
            out.append(run.info.run_id)
        return out


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment_name) is None:
        raise LookupError(f"experiment {experiment_name!r} does not exist")
    frame = mlflow.search_runs(experiment_names=[experiment_name],
                               order_by=[f"metrics.`{metric}` DESC"], max_results=50)
    column = f"metrics.{metric}"
    if frame.empty or column not in frame:
        raise LookupError(f"no run logged {metric!r}")
    frame = frame[frame[column].notna()]
    if frame.empty:
        raise LookupError(f"no run logged {metric!r}")
    return str(frame.iloc[0]["run_id"])
