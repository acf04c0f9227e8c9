"""Day 02 answer: client API for the experiment, DataFrame signatures, own numpy data."""

from __future__ import annotations

import hashlib
import json

import numpy as np

N_ROWS = 800
N_FEATURES = 6
TEST_SHARE = 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    weights = rng.normal(size=N_FEATURES)
    logits = X @ weights + 0.5 * rng.normal(size=N_ROWS)
    y = (logits > np.median(logits)).astype(np.int64)
    # stratified split by hand: the same share of each class held out
    test_idx = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        rows = rng.permutation(rows)
        test_idx.extend(rows[: int(round(len(rows) * TEST_SHARE))])
    test_mask = np.zeros(N_ROWS, dtype=bool)
    test_mask[np.array(test_idx)] = True
    return X[~test_mask], X[test_mask], y[~test_mask], y[test_mask]


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = json.dumps({"i": position, "dtype": array.dtype.str, "shape": list(array.shape)})
        digest.update(len(header).to_bytes(8, "big"))
        digest.update(header.encode())
        digest.update(np.ascontiguousarray(array).tobytes(order="C"))
    return digest.hexdigest()


def _models(seed: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)),
        RandomForestClassifier(n_estimators=40, max_depth=5, random_state=seed),
        GaussianNB(),
        make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=11, algorithm="brute")),
    ]


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.integer, np.floating))


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import mlflow.sklearn
        import pandas as pd
        import sklearn
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        client = mlflow.MlflowClient(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        experiment_id = (found.experiment_id if found is not None
                         else client.create_experiment(experiment_name, artifact_location=artifact_location))

        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        columns = [f"f{i}" for i in range(X_train.shape[1])]
        frame_train = pd.DataFrame(X_train, columns=columns)
        frame_test = pd.DataFrame(X_test, columns=columns)

        mlflow.set_tracking_uri(tracking_uri)
        run_ids = []
        for model in _models(seed):
            model.fit(frame_train, y_train)
            predicted = model.predict(frame_test)
            scores = model.predict_proba(frame_test)[:, 1]
            metrics = {"accuracy": float(accuracy_score(y_test, predicted)),
                       "f1": float(f1_score(y_test, predicted)),
                       "roc_auc": float(roc_auc_score(y_test, scores))}
            params = {k: v for k, v in model.get_params().items() if _plain(v)}
            with mlflow.start_run(experiment_id=experiment_id, run_name=type(model).__name__) as run:
                mlflow.log_params(params)
                mlflow.log_metrics(metrics)
                mlflow.set_tag("dataset_fingerprint", tag)
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(frame_train, model.predict(frame_train)),
                    input_example=frame_train.head(3),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
                run_ids.append(run.info.run_id)
        return run_ids


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no experiment named {experiment_name!r}")
    key = f"metrics.`{metric}`"
    runs = client.search_runs([experiment.experiment_id], filter_string=f"{key} > -1e308",
                              order_by=[f"{key} DESC", "attributes.start_time ASC"], max_results=1)
    if not runs:
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return runs[0].info.run_id
