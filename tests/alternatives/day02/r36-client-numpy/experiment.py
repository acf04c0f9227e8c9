"""Day 02 with plain numpy data, an MlflowClient for all bookkeeping and DataFrame inputs."""

from __future__ import annotations

import hashlib
import io

import numpy as np

N_FEATURES = 6
COLUMNS = [f"feature_{i}" for i in range(N_FEATURES)]


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 500
    y = np.repeat(np.array([0, 1], dtype=np.int64), n // 2)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = centres[y] + rng.normal(0.0, 1.6, size=(n, N_FEATURES))
    test_idx, train_idx = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        cut = len(rows) // 5   # 20 % held out from each class
        test_idx.extend(rows[:cut])
        train_idx.extend(rows[cut:])
    train_idx = rng.permutation(np.array(train_idx))
    test_idx = rng.permutation(np.array(test_idx))
    return X[train_idx].copy(), X[test_idx].copy(), y[train_idx].copy(), y[test_idx].copy()


def fingerprint(*arrays) -> str:
    """Each array written as a .npy blob (its header names dtype and shape), all hashed in order."""
    h = hashlib.sha256()
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array, order="C"), allow_pickle=False)
        h.update(buffer.getvalue())
    return h.hexdigest()


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _candidates(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.svm import SVC

    return {
        "forest": RandomForestClassifier(n_estimators=40, max_depth=6, random_state=seed),
        "naive-bayes": GaussianNB(),
        "svm": SVC(kernel="rbf", C=1.0),   # no predict_proba: decision_function scores
    }


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        experiment_id = (found.experiment_id if found is not None
                         else client.create_experiment(experiment_name, artifact_location=artifact_location))

        arrays = make_dataset(seed)
        digest = fingerprint(*arrays)
        X_train, X_test, y_train, y_test = arrays
        train = pd.DataFrame(X_train, columns=COLUMNS)
        test = pd.DataFrame(X_test, columns=COLUMNS)

        made: list[str] = []
        for label, model in _candidates(seed).items():
            # log_model files the model under the active run: ours, started in the experiment, nested
            # under the caller's run if it has one; the with block ends it FAILED on any exception.
            with mlflow.start_run(experiment_id=experiment_id, run_name=label, nested=True) as run:
                run_id = run.info.run_id
                made.append(run_id)
                model.fit(train, y_train)
                predicted = model.predict(test)
                if hasattr(model, "predict_proba"):
                    scores = model.predict_proba(test)[:, 1]
                else:
                    scores = model.decision_function(test)
                stamp = mlflow.utils.time.get_current_time_millis()
                client.log_batch(
                    run_id,
                    metrics=[Metric("accuracy", float(accuracy_score(y_test, predicted)), stamp, 0),
                             Metric("f1", float(f1_score(y_test, predicted)), stamp, 0),
                             Metric("roc_auc", float(roc_auc_score(y_test, scores)), stamp, 0)],
                    params=[Param(k, str(v)) for k, v in model.get_params().items() if _plain(v)],
                    tags=[RunTag("dataset_fingerprint", digest)],
                )
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train, model.predict(train)),
                    input_example=train.head(5),
                    pip_requirements=["scikit-learn"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
        return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    key = metric.replace("`", r"\`")
    top = client.search_runs(experiment_ids=[experiment.experiment_id],
                             order_by=[f"metrics.`{key}` DESC", "attributes.start_time ASC"], max_results=1)
    # Runs without the metric sort last: if the top one lacks it, none has it.
    if not top or metric not in top[0].data.metrics:
        raise LookupError(f"no run of {experiment_name!r} has the metric {metric!r}")
    return top[0].info.run_id
