"""Day 02: hand-rolled data, the tracking client's own API, DataFrame signatures."""

from __future__ import annotations

import hashlib

import numpy as np

N_PER_CLASS = 260
N_FEATURES = 6
TEST_SHARE = 0.3
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = np.vstack([rng.normal(centres[label], 1.5, size=(N_PER_CLASS, N_FEATURES)) for label in (0, 1)])
    y = np.repeat(np.array([0, 1], dtype=np.int64), N_PER_CLASS)
    train_idx, test_idx = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(rows) * TEST_SHARE))
        test_idx.append(rows[:cut])
        train_idx.append(rows[cut:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def fingerprint(*arrays: np.ndarray) -> str:
    hasher = hashlib.sha256()
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = f"#{position}|{array.dtype.str}|{'x'.join(map(str, array.shape))}|".encode()
        hasher.update(header)
        hasher.update(array.tobytes(order="C"))
    return hasher.hexdigest()


def _candidates(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "scaled-logreg": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]),
        "forest": RandomForestClassifier(n_estimators=40, max_depth=6, random_state=seed),
        "svc": SVC(kernel="rbf", C=1.0),
    }


def _plain_params(model):
    return {key: value for key, value in model.get_params().items()
            if value is None or isinstance(value, (bool, int, float, str))}


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from mlflow.utils.time import get_current_time_millis
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        client = mlflow.MlflowClient(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id

        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        frame_train = pd.DataFrame(X_train, columns=COLUMNS)
        frame_test = pd.DataFrame(X_test, columns=COLUMNS)

        mlflow.set_tracking_uri(tracking_uri)
        made = []
        for name, model in _candidates(seed).items():
            # the with block ends the run FAILED on any exception, KeyboardInterrupt included
            with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
                run_id = run.info.run_id
                model.fit(frame_train, y_train)
                predicted = model.predict(frame_test)
                if hasattr(model, "predict_proba"):
                    ranking = model.predict_proba(frame_test)[:, 1]
                else:
                    ranking = model.decision_function(frame_test)
                now = get_current_time_millis()
                client.log_batch(
                    run_id,
                    metrics=[Metric("accuracy", float(accuracy_score(y_test, predicted)), now, 0),
                             Metric("f1", float(f1_score(y_test, predicted)), now, 0),
                             Metric("roc_auc", float(roc_auc_score(y_test, ranking)), now, 0)],
                    params=[Param(key, str(value)) for key, value in _plain_params(model).items()],
                    tags=[RunTag("dataset_fingerprint", tag)])
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(frame_train, model.predict(frame_train)),
                    input_example=frame_train.head(2),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
            made.append(run_id)
        return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"experiment {experiment_name!r} does not exist")
    top = client.search_runs([experiment.experiment_id], order_by=[f"metrics.`{metric}` DESC"],
                             max_results=1)
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"no run of {experiment_name!r} has the metric {metric!r}")
    return top[0].info.run_id
