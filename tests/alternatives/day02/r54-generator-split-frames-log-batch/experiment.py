"""Day 02 answer, second style: hand-rolled generator (default_rng), manual stratified split,
DataFrame features with named columns, log_batch with Metric objects, one hash per array."""

from __future__ import annotations

import hashlib
import operator
import time

import numpy as np

N_FEATURES = 5
COLUMNS = [f"x{i}" for i in range(N_FEATURES)]


def _seed(seed) -> int:
    if isinstance(seed, (float, np.floating)):
        raise TypeError(f"a seed is a whole number, not the float {seed!r}")
    try:
        value = operator.index(seed)   # int, numpy integers; refuses floats, strings
    except TypeError:
        raise TypeError(f"a seed is a whole number, not {seed!r}") from None
    if value < 0 or value >= 2**32:
        raise ValueError(f"seed {value} is outside 0..2**32 - 1")
    return value


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(_seed(seed))
    n = 500
    y = (rng.random(n) < 0.45).astype(np.int64)
    centers = np.where(y[:, None] == 1, 0.8, -0.8) * np.array([1.0, 0.7, 0.4, 0.0, 0.0])
    X = rng.normal(size=(n, N_FEATURES)) * 1.3 + centers
    test_idx = []
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        idx = rng.permutation(idx)
        test_idx.extend(idx[: int(round(0.3 * len(idx)))])
    in_test = np.zeros(n, dtype=bool)
    in_test[np.array(test_idx)] = True
    return X[~in_test], X[in_test], y[~in_test], y[in_test]


def fingerprint(*arrays) -> str:
    outer = hashlib.sha256(b"day02-fingerprint-v1")
    for array in arrays:
        array = np.asarray(array)
        inner = hashlib.sha256()
        inner.update(repr((array.dtype.str, array.shape)).encode())
        inner.update(np.ascontiguousarray(array).data if array.size else b"")
        outer.update(inner.digest())
    return outer.hexdigest()


def _derived(seed: int, salt: int) -> int:
    return (seed * 2654435761 + salt) % 2**32   # odd multiplier: a bijection of 0..2**32-1


def _models(seed: int):
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "naive-bayes": GaussianNB(),
        "svm-rbf": Pipeline([("scale", StandardScaler()), ("svc", SVC(C=1.0, gamma="scale"))]),
        "extra-trees": ExtraTreesClassifier(n_estimators=40, min_samples_leaf=3, random_state=seed),
        "boosting": GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=_derived(seed, 17)),
    }


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    seed = _seed(seed)
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is not None and found.lifecycle_stage == "deleted":
        raise MlflowException(f"the experiment {experiment_name!r} is deleted (in the trash)")
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(experiment_name, artifact_location=artifact_location))
    mlflow.set_tracking_uri(tracking_uri)

    X_train, X_test, y_train, y_test = make_dataset(seed)
    digest = fingerprint(X_train, X_test, y_train, y_test)
    train = pd.DataFrame(X_train, columns=COLUMNS)
    test = pd.DataFrame(X_test, columns=COLUMNS)

    made = []
    with disable_autologging():
        for run_name, model in _models(seed).items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                run_id = run.info.run_id
                made.append(run_id)
                model.fit(train, y_train)
                labels = model.predict(test)
                scores = (model.predict_proba(test)[:, 1] if hasattr(model, "predict_proba")
                          else model.decision_function(test))
                now = int(time.time() * 1000)
                values = {"accuracy": accuracy_score(y_test, labels), "f1": f1_score(y_test, labels),
                          "roc_auc": roc_auc_score(y_test, scores)}
                params = [Param(k, str(v)) for k, v in model.get_params().items()
                          if v is None or isinstance(v, (bool, int, float, str))]
                client.log_batch(run_id,
                                 metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                                 params=params, tags=[RunTag("dataset_fingerprint", digest)])
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train, model.predict(train)),
                    input_example=train.head(5),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
    return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow
    from mlflow.entities import ViewType

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        raise LookupError(f"no experiment {experiment_name!r}")
    key = "metrics.`" + metric.replace("`", r"\`") + "`"
    page = client.search_runs([experiment.experiment_id], filter_string=f"{key} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=[f"{key} DESC"], max_results=1)
    if len(page) == 0:
        raise LookupError(f"no run of {experiment_name!r} has the metric {metric!r}")
    return page[0].info.run_id
