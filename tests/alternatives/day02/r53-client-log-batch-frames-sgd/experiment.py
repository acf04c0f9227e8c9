"""Day 02 answer, client style: a numpy Generator data set, DataFrame inputs, MlflowClient.log_batch."""

from __future__ import annotations

import operator

import numpy as np

N_FEATURES = 6
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def _seed(seed) -> int:
    if isinstance(seed, (float, np.floating)):
        raise TypeError(f"a seed is a whole number, not {seed!r}")
    value = operator.index(seed)      # int, np.int64, ...; TypeError for anything else
    if value < 0 or value >= 2**32:
        raise ValueError(f"seed {value} is outside 0..2**32-1")
    return value


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(_seed(seed))
    n_per_class, test_share = 260, 0.3
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    Xs, ys = [], []
    for label in (0, 1):
        Xs.append(centres[label] + rng.normal(0.0, 1.5, size=(n_per_class, N_FEATURES)))
        ys.append(np.full(n_per_class, label, dtype=np.int64))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    test_rows = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        test_rows.append(rng.choice(rows, size=round(test_share * len(rows)), replace=False))
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[np.concatenate(test_rows)] = True
    train_idx = rng.permutation(np.flatnonzero(~test_mask))
    test_idx = rng.permutation(np.flatnonzero(test_mask))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def fingerprint(*arrays) -> str:
    import hashlib

    h = hashlib.sha256(b"day02-fingerprint-v1")
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = f"|{position}|{array.dtype.str}|{','.join(map(str, array.shape))}|{array.ndim}|"
        h.update(header.encode())
        h.update(array.tobytes(order="C"))
    return h.hexdigest()


def _models(seed: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        ("random-forest", RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed)),
        ("gaussian-nb", GaussianNB()),
        ("sgd-hinge", Pipeline([("scale", StandardScaler()),
                                ("sgd", SGDClassifier(loss="hinge", random_state=seed))])),
    ]


def _scores(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import time

    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is None:
        experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
    elif found.lifecycle_stage == "deleted":
        raise MlflowException(f"the experiment {experiment_name!r} is deleted; restore it or pick another name")
    else:
        experiment_id = found.experiment_id

    X_train, X_test, y_train, y_test = make_dataset(seed)
    data_tag = fingerprint(X_train, X_test, y_train, y_test)
    train_df = pd.DataFrame(X_train, columns=COLUMNS)
    test_df = pd.DataFrame(X_test, columns=COLUMNS)

    made: list[str] = []
    with disable_autologging():
        for run_name, model in _models(seed):
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=True) as run:
                run_id = run.info.run_id
                model.fit(train_df, y_train)
                predicted = model.predict(test_df)
                values = {"accuracy": accuracy_score(y_test, predicted),
                          "f1": f1_score(y_test, predicted),
                          "roc_auc": roc_auc_score(y_test, _scores(model, test_df))}
                now = int(time.time() * 1000)
                params = [Param(k, str(v)) for k, v in model.get_params().items()
                          if v is None or isinstance(v, (str, bool, int, float, np.number))]
                client.log_batch(run_id,
                                 metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                                 params=params,
                                 tags=[RunTag("dataset_fingerprint", data_tag)])
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train_df, model.predict(train_df)),
                    input_example=train_df.head(5),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}", "pandas"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
                made.append(run_id)
    return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        raise LookupError(f"experiment {experiment_name!r} not found")
    page = client.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"metrics.`{metric}` >= -1e308",
        order_by=[f"metrics.`{metric}` DESC", "attributes.start_time ASC"],
        max_results=1,
    )
    if len(page) == 0:
        raise LookupError(f"no run in {experiment_name!r} has the metric {metric!r}")
    return page[0].info.run_id
