"""Correct answer B: numpy-only data and split, client API for runs, pipelines and a margin model."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os

import numpy as np

N_ROWS = 800
TEST_SHARE = 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=N_ROWS)
    centres = rng.normal(0.0, 1.0, size=(2, 6))
    X = centres[y] + rng.normal(0.0, 1.5, size=(N_ROWS, 6))
    test_mask = np.zeros(N_ROWS, dtype=bool)
    for label in (0, 1):  # stratified by hand
        rows = rng.permutation(np.flatnonzero(y == label))
        test_mask[rows[: int(round(len(rows) * TEST_SHARE))]] = True
    return X[~test_mask], X[test_mask], y[~test_mask], y[test_mask]


def fingerprint(*arrays):
    digest = hashlib.sha256(b"fingerprint-v1")
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array, order="C"), allow_pickle=False)  # header: dtype + shape
        payload = buffer.getvalue()
        digest.update(len(payload).to_bytes(8, "big"))
        digest.update(payload)
    return digest.hexdigest()


@contextlib.contextmanager
def _tracking(uri):
    """Point MLflow's fluent API at `uri` (over any URI the caller set), then put the caller's back."""
    import mlflow

    previous_env = os.environ.get("MLFLOW_TRACKING_URI")
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if previous_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


def _scores(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import time

        import mlflow
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id

        X_train, X_test, y_train, y_test = make_dataset(seed)
        data_tag = fingerprint(X_train, X_test, y_train, y_test)
        candidates = {
            "scaled-logreg": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]),
            "linear-svm": LinearSVC(C=0.1, random_state=seed),
            "naive-bayes": GaussianNB(),
            "forest": RandomForestClassifier(n_estimators=25, max_depth=6, random_state=seed),
        }
        run_ids = []
        for name, model in candidates.items():
            # a failure anywhere in the block (fit, scoring, logging, save) ends this run as FAILED
            with _tracking(tracking_uri), \
                    mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
                run_id = run.info.run_id
                model.fit(X_train, y_train)
                predicted = model.predict(X_test)
                now = int(time.time() * 1000)
                metrics = {"accuracy": float(accuracy_score(y_test, predicted)),
                           "f1": float(f1_score(y_test, predicted, pos_label=1)),
                           "roc_auc": float(roc_auc_score(y_test, _scores(model, X_test)))}
                client.log_batch(
                    run_id,
                    metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                    params=[Param(k, str(v)) for k, v in model.get_params().items()],
                    tags=[RunTag("dataset_fingerprint", data_tag)],
                )
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(X_test, predicted),
                    input_example=X_test[:2],
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
            run_ids.append(run_id)
        return run_ids


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    top = client.search_runs(experiment_ids=[experiment.experiment_id],
                             order_by=[f"metrics.`{metric}` DESC", "attributes.start_time ASC"],
                             max_results=1)
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"no run in {experiment_name!r} has the metric {metric!r}")
    return top[0].info.run_id
