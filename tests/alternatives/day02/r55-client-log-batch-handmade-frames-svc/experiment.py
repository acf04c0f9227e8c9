"""Day 02, second style: a hand-made numpy data set, DataFrame signature, log_batch, explicit end_run."""

from __future__ import annotations

import hashlib
import operator
import time

import numpy as np

N_FEATURES = 6
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def _seed(seed) -> int:
    if isinstance(seed, (float, np.floating)):
        raise TypeError("a seed is a whole number, not a float")
    value = operator.index(seed)          # int, np.int64, ...; refuses 3.7 and 3.0
    if value < 0 or value > 2**32 - 1:
        raise ValueError(f"seed out of range 0..2**32-1: {value}")
    return value


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(_seed(seed))
    n_per_class = 250
    centers = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = np.vstack([rng.normal(centers[c], 1.5, size=(n_per_class, N_FEATURES)) for c in (0, 1)])
    y = np.repeat(np.array([0, 1], dtype=np.int64), n_per_class)
    test_rows, train_rows = [], []
    for c in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == c))
        cut = int(round(0.3 * len(rows)))
        test_rows.append(rows[:cut])
        train_rows.append(rows[cut:])
    train = rng.permutation(np.concatenate(train_rows))
    test = rng.permutation(np.concatenate(test_rows))
    return X[train].copy(), X[test].copy(), y[train].copy(), y[test].copy()


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        header = repr((index, array.dtype.str, array.shape)).encode()
        h.update(len(header).to_bytes(8, "little"))
        h.update(header)
        h.update(array.tobytes(order="C"))
    return h.hexdigest()


def _candidates(seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "naive-bayes": GaussianNB(),
        "hist-gb": HistGradientBoostingClassifier(max_iter=60, random_state=seed),
        "sgd-hinge": make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", random_state=seed)),
        "svc-rbf": make_pipeline(StandardScaler(), SVC(kernel="rbf")),
    }


def _is_plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging
    from sklearn import metrics as skm

    seed = _seed(seed)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is not None and found.lifecycle_stage == "deleted":
        raise MlflowException(f"experiment {experiment_name!r} is in the trash")
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(experiment_name, artifact_location=artifact_location))

    X_train, X_test, y_train, y_test = make_dataset(seed)
    digest = fingerprint(X_train, X_test, y_train, y_test)
    train_df = pd.DataFrame(X_train, columns=COLUMNS)
    test_df = pd.DataFrame(X_test, columns=COLUMNS)

    made: list[str] = []
    with disable_autologging():
        for run_name, model in _candidates(seed).items():
            run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name)   # refuses inside a caller's run
            run_id = run.info.run_id
            try:
                model.fit(train_df, y_train)
                labels = model.predict(test_df)
                try:
                    scores = model.predict_proba(test_df)[:, 1]
                except AttributeError:
                    scores = model.decision_function(test_df)
                now = int(time.time() * 1000)
                values = {"accuracy": skm.accuracy_score(y_test, labels),
                          "f1": skm.f1_score(y_test, labels, pos_label=1),
                          "roc_auc": skm.roc_auc_score(y_test, scores)}
                client.log_batch(
                    run_id,
                    metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                    params=[Param(k, str(v)) for k, v in model.get_params().items() if _is_plain(v)],
                    tags=[RunTag("dataset_fingerprint", digest)],
                )
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train_df, model.predict(train_df)),
                    input_example=train_df.head(5),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}", "pandas"],
                    skops_trusted_types=["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
                )
            except BaseException:
                mlflow.end_run(status="FAILED")
                raise
            mlflow.end_run(status="FINISHED")
            made.append(run_id)
    return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        raise LookupError(experiment_name)
    key = f"metrics.`{metric}`"
    page = client.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"{key} > -1e308",
        run_view_type=ViewType.ACTIVE_ONLY,
        order_by=[f"{key} DESC", "attributes.start_time ASC"],
        max_results=1,
    )
    if len(page) == 0:
        raise LookupError(f"no run of {experiment_name!r} has the metric {metric!r}")
    return page[0].info.run_id
