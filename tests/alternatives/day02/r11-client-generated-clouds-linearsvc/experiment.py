"""Day 02: track a small model comparison in MLflow (client API, pandas frames)."""

from __future__ import annotations

import hashlib

import numpy as np

N_ROWS = 500
N_FEATURES = 5
TEST_SHARE = 0.3


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two noisy Gaussian clouds, shuffled and split by class (numpy only)."""
    rng = np.random.default_rng(seed)
    y = np.arange(N_ROWS) % 2
    centre = rng.normal(size=N_FEATURES)
    X = rng.normal(size=(N_ROWS, N_FEATURES)) * 1.5 + np.where(y[:, None] == 1, centre, -centre)
    train_idx, test_idx = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(rows) * TEST_SHARE))
        test_idx.extend(rows[:cut])
        train_idx.extend(rows[cut:])
    train_idx, test_idx = rng.permutation(train_idx), rng.permutation(test_idx)
    return X[train_idx].copy(), X[test_idx].copy(), y[train_idx].astype(np.int32), y[test_idx].astype(np.int32)


def fingerprint(*arrays: np.ndarray) -> str:
    parts = hashlib.sha256()
    for index, array in enumerate(arrays):
        header = f"#{index}|{array.dtype.str}|{'x'.join(map(str, array.shape))}|"
        parts.update(header.encode("ascii"))
        parts.update(array.tobytes(order="C"))
    return parts.hexdigest()


def _candidates(seed: int) -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "forest": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=seed),
        "bayes": GaussianNB(),
        "scaled-svm": make_pipeline(StandardScaler(), LinearSVC(random_state=seed)),
    }


def _score(model, X) -> np.ndarray:
    try:
        return model.predict_proba(X)[:, 1]
    except AttributeError:
        return model.decision_function(X)


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
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
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id

        arrays = make_dataset(seed)
        X_train, X_test, y_train, y_test = arrays
        columns = [f"f{i}" for i in range(X_train.shape[1])]
        train = pd.DataFrame(X_train, columns=columns)
        test = pd.DataFrame(X_test, columns=columns)
        data_tag = fingerprint(*arrays)

        made = []
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(tracking_uri)
        try:
            for run_name, model in _candidates(seed).items():
                # the with block ends the run FAILED on any exception, KeyboardInterrupt included
                with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                      tags={"dataset_fingerprint": data_tag}) as run:
                    run_id = run.info.run_id
                    made.append(run_id)
                    model.fit(train, y_train)
                    predicted = model.predict(test)
                    values = {
                        "accuracy": accuracy_score(y_test, predicted),
                        "f1": f1_score(y_test, predicted),
                        "roc_auc": roc_auc_score(y_test, _score(model, test)),
                    }
                    computed_at = int(time.time() * 1000)
                    params = [Param(k, str(v)) for k, v in model.get_params().items()
                              if v is None or isinstance(v, (bool, int, float, str))]
                    client.log_batch(run_id, params=params, tags=[RunTag("model_class", type(model).__name__)])
                    mlflow.sklearn.log_model(
                        model, name="model",
                        signature=infer_signature(train, predicted),
                        input_example=train.head(2),
                        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                        skops_trusted_types=["sklearn.tree._tree.Tree"],
                    )
                    # metrics only once the model is stored: no run scores without a model to show for it
                    client.log_batch(run_id,
                                     metrics=[Metric(k, float(v), computed_at, 0) for k, v in values.items()])
        finally:
            mlflow.set_tracking_uri(previous)
        return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    top = client.search_runs([experiment.experiment_id], order_by=[f"metrics.`{metric}` DESC"], max_results=1)
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"{experiment_name!r} has no run with {metric!r}")
    return top[0].info.run_id
