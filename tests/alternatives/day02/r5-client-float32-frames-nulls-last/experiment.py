"""Day 02 (client style): own numpy generator, float32 DataFrames, MlflowClient.log_batch,
a Pipeline and an SVC scored by decision_function, best run through mlflow.search_runs."""

from __future__ import annotations

import hashlib
import io
import time

import numpy as np

N_FEATURES = 6


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 500
    y = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(y)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = (centres[y] + rng.normal(0.0, 1.6, size=(n, N_FEATURES))).astype(np.float32)
    test_idx = []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        test_idx.extend(rows[: len(rows) // 5])
    test_mask = np.zeros(n, dtype=bool)
    test_mask[test_idx] = True
    return X[~test_mask], X[test_mask], y[~test_mask], y[test_mask]


def fingerprint(*arrays):
    digest = hashlib.sha256()
    for a in arrays:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(a, order="C"), allow_pickle=False)
        digest.update(buffer.getvalue())
    return digest.hexdigest()


def _columns():
    return [f"x{i}" for i in range(N_FEATURES)]


def _models(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return [
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5, random_state=seed))]),
        SVC(C=1.0, kernel="rbf", random_state=seed),
        RandomForestClassifier(n_estimators=40, max_depth=6, random_state=seed, n_jobs=1),
    ]


def _score(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
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
        train = pd.DataFrame(X_train, columns=_columns())
        test = pd.DataFrame(X_test, columns=_columns())

        mlflow.set_tracking_uri(tracking_uri)
        made = []
        for model in _models(seed):
            # a failure anywhere in the block (fit, scoring, logging, save) ends this run as FAILED
            with mlflow.start_run(experiment_id=experiment_id, tags={"dataset_fingerprint": tag}) as run:
                run_id = run.info.run_id
                model.fit(train, y_train)
                predicted = model.predict(test)
                now = int(time.time() * 1000)
                metrics = {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
                           "roc_auc": roc_auc_score(y_test, _score(model, test))}
                params = [Param(k, str(v)) for k, v in model.get_params().items()
                          if v is None or isinstance(v, (bool, int, float, str))]
                client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                                 params=params, tags=[RunTag("dataset_fingerprint", tag)])
                mlflow.sklearn.log_model(
                    model, name="model", signature=infer_signature(train, model.predict(train)),
                    input_example=train.head(2),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
            made.append(run_id)
        return made


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import math

    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no experiment {experiment_name!r} at {tracking_uri}")
    page = client.search_runs([experiment.experiment_id], order_by=[f"metrics.`{metric}` DESC"],
                              max_results=1)
    if not page or metric not in page[0].data.metrics or math.isnan(page[0].data.metrics[metric]):
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return page[0].info.run_id
