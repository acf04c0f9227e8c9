"""Day 02 answer: own numpy generator, DataFrames, client log_batch."""

from __future__ import annotations

import hashlib
import time

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 800, 6, 0.3
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)   # refuses negatives and non-integers itself
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    weights = rng.normal(size=N_FEATURES)
    logits = X @ weights + rng.normal(scale=1.0, size=N_ROWS)
    y = (logits > 0).astype(np.int64)
    test_rows = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        rng.shuffle(rows)
        test_rows.extend(rows[: int(round(len(rows) * TEST_SHARE))])
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_rows] = True
    return X[~is_test], X[is_test], y[~is_test], y[is_test]


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        h.update(repr((index, array.dtype.str, array.shape)).encode("utf-8"))
        h.update(array.tobytes(order="C"))
    return h.hexdigest()


def _models(seed: int) -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "random-forest": RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed),
        "naive-bayes": GaussianNB(),
        "sgd-hinge": Pipeline([("scale", StandardScaler()),
                               ("sgd", SGDClassifier(loss="hinge", random_state=seed))]),
    }


def _score(model, X, y) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    labels = model.predict(X)
    try:
        ranking = model.predict_proba(X)[:, 1]
    except AttributeError:
        ranking = model.decision_function(X)
    return {"accuracy": float(accuracy_score(y, labels)), "f1": float(f1_score(y, labels, pos_label=1)),
            "roc_auc": float(roc_auc_score(y, ranking))}


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(experiment_name, artifact_location=artifact_location))

    X_train, X_test, y_train, y_test = make_dataset(seed)
    digest = fingerprint(X_train, X_test, y_train, y_test)
    train = pd.DataFrame(X_train, columns=FEATURES)
    test = pd.DataFrame(X_test, columns=FEATURES)

    made: list[str] = []
    with disable_autologging():
        for run_name, model in _models(seed).items():
            nested = mlflow.active_run() is not None
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested) as run:
                run_id = run.info.run_id
                model.fit(train, y_train)
                scores = _score(model, test, y_test)
                now = int(time.time() * 1000)
                params = [Param(k, str(v)) for k, v in model.get_params().items()
                          if v is None or isinstance(v, (bool, int, float, str, np.number))]
                client.log_batch(run_id,
                                 metrics=[Metric(k, v, now, 0) for k, v in scores.items()],
                                 params=params,
                                 tags=[RunTag("dataset_fingerprint", digest)])
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train, model.predict(train)),
                    input_example=train.head(5),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
                made.append(run_id)
    return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is None:
        raise LookupError(experiment_name)
    quoted = f"metrics.`{metric}`"
    page = client.search_runs(experiment_ids=[found.experiment_id], filter_string=f"{quoted} > -1e308",
                              order_by=[f"{quoted} DESC", "attributes.start_time ASC"], max_results=1)
    if len(page) == 0:
        raise LookupError(f"{metric} in {experiment_name}")
    return page[0].info.run_id
