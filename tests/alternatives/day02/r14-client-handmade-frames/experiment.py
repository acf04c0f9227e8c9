"""Day 02: MlflowClient API, hand-made data, DataFrame signatures."""

from __future__ import annotations

import json
from hashlib import sha256

import numpy as np

FEATURES = 6
ROWS = 500
HELD_OUT = 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (np.arange(ROWS) % 2).astype(np.int32)
    rng.shuffle(y)
    centres = rng.normal(size=(2, FEATURES))
    X = centres[y] + rng.normal(scale=1.5, size=(ROWS, FEATURES))
    test_rows = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        test_rows.extend(rng.choice(rows, size=int(round(len(rows) * HELD_OUT)), replace=False))
    is_test = np.zeros(ROWS, dtype=bool)
    is_test[test_rows] = True
    return X[~is_test].copy(), X[is_test].copy(), y[~is_test].copy(), y[is_test].copy()


def fingerprint(*arrays):
    h = sha256()
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        header = json.dumps({"index": index, "dtype": array.dtype.str, "shape": list(array.shape)})
        h.update(header.encode("utf-8") + b"\0")
        h.update(array.tobytes(order="C"))
    return h.hexdigest()


def _candidates(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return [
        ("forest-shallow", RandomForestClassifier(n_estimators=25, max_depth=3, random_state=seed)),
        ("forest-deep", RandomForestClassifier(n_estimators=25, max_depth=8, random_state=seed)),
        ("naive-bayes", GaussianNB()),
        ("scaled-svc", make_pipeline(StandardScaler(), SVC(C=1.0))),
    ]


def _plain(params):
    return {k: v for k, v in params.items() if v is None or isinstance(v, (bool, int, float, str))}


def _score(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import time

        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        client = mlflow.MlflowClient(tracking_uri)
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = experiment.experiment_id

        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        columns = [f"x{i}" for i in range(X_train.shape[1])]
        train = pd.DataFrame(X_train, columns=columns)
        test = pd.DataFrame(X_test, columns=columns)

        made = []
        mlflow.set_tracking_uri(tracking_uri)
        for run_name, model in _candidates(seed):
            run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                   tags={"dataset_fingerprint": tag})
            run_id = run.info.run_id
            status = "FAILED"
            try:
                model.fit(train, y_train)
                predicted = model.predict(test)
                now = int(time.time() * 1000)
                metrics = {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
                           "roc_auc": roc_auc_score(y_test, _score(model, test))}
                client.log_batch(run_id,
                                 metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                                 params=[Param(k, str(v)) for k, v in _plain(model.get_params()).items()],
                                 tags=[RunTag("model_class", type(model).__name__)])
                mlflow.sklearn.log_model(
                    model, name="model", signature=infer_signature(train, model.predict(train)),
                    input_example=train.head(3),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
                status = "FINISHED"
            finally:
                active = mlflow.active_run()
                if active is not None and active.info.run_id == run_id:   # ours only, never the caller's run
                    mlflow.end_run(status=status)
                client.set_terminated(run_id, status=status)
            made.append(run_id)
        return made


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is None:
        raise LookupError(experiment_name)
    top = client.search_runs(experiment_ids=[found.experiment_id],
                             order_by=[f"metrics.`{metric}` DESC"], max_results=1)
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"{metric} was never logged in {experiment_name}")
    return top[0].info.run_id
