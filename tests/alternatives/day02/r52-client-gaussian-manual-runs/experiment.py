"""Day 02 answer, style 2: hand-rolled NumPy data, DataFrame signature, explicit run lifecycle."""

from __future__ import annotations

import hashlib
import operator

import numpy as np

N_FEATURES = 6
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def make_dataset(seed: int = 0):
    if isinstance(seed, float):
        raise TypeError("a seed is a whole number, not a float")
    seed = operator.index(seed)          # ints and NumPy integers; floats raise TypeError
    if seed < 0:
        raise ValueError("a seed is not negative")
    rng = np.random.default_rng(seed)    # takes any non-negative int of its own
    n = 500
    y = (rng.random(n) < 0.45).astype(np.int64)
    y[:2] = [0, 1]
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = rng.normal(0.0, 1.6, size=(n, N_FEATURES)) + centres[y]
    test = np.zeros(n, dtype=bool)
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        chosen = rng.permutation(rows)[: int(round(0.25 * len(rows)))]
        test[chosen] = True
    return X[~test].copy(), X[test].copy(), y[~test].copy(), y[test].copy()


def fingerprint(*arrays) -> str:
    digest = hashlib.sha256()
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = f"{position}|{array.dtype.str}|{','.join(map(str, array.shape))}|{array.ndim};"
        digest.update(header.encode())
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def _models(seed: int) -> dict:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "sgd-logistic": Pipeline([("scale", StandardScaler()),
                                  ("sgd", SGDClassifier(loss="log_loss", alpha=1e-3, random_state=seed))]),
        "naive-bayes": GaussianNB(),
        "gradient-boosting": GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=seed),
        "svc": Pipeline([("scale", StandardScaler()), ("svc", SVC(C=1.0))]),
    }


def _plain(params: dict) -> dict:
    return {k: v for k, v in params.items() if v is None or isinstance(v, (bool, int, float, str))}


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.entities import RunStatus
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    if found is not None and found.lifecycle_stage == "deleted":
        raise MlflowException(f"experiment {experiment_name!r} is in the trash")
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(experiment_name, artifact_location=artifact_location))
    mlflow.set_tracking_uri(tracking_uri)

    X_train, X_test, y_train, y_test = make_dataset(seed)
    digest = fingerprint(X_train, X_test, y_train, y_test)
    train_frame = pd.DataFrame(X_train, columns=COLUMNS)
    test_frame = pd.DataFrame(X_test, columns=COLUMNS)

    made: list[str] = []
    with disable_autologging():
        for run_name, model in _models(seed).items():
            run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=True)
            made.append(run.info.run_id)
            try:
                model.fit(train_frame, y_train)
                mlflow.log_params(_plain(model.get_params()))
                mlflow.set_tag("dataset_fingerprint", digest)
                labels = model.predict(test_frame)
                scores = (model.predict_proba(test_frame)[:, 1] if hasattr(model, "predict_proba")
                          else model.decision_function(test_frame))
                mlflow.log_metric("accuracy", accuracy_score(y_test, labels))
                mlflow.log_metric("f1", f1_score(y_test, labels))
                mlflow.log_metric("roc_auc", roc_auc_score(y_test, scores))
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train_frame, model.predict(train_frame)),
                    input_example=train_frame.head(5),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree", "sklearn._loss.loss.HalfBinomialLoss",
                                         "sklearn._loss.link.LogitLink", "sklearn._loss.link.Interval",
                                         "sklearn.ensemble._gb.BinomialDeviance"])
            except BaseException:
                mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
                raise
            mlflow.end_run()
    return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        raise LookupError(experiment_name)
    key = f"metrics.`{metric}`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id], filter_string=f"{key} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=[f"{key} DESC", "attributes.start_time ASC"],
                              max_results=1)
    if len(page) == 0:
        raise LookupError(f"{metric!r} never logged in {experiment_name!r}")
    return page[0].info.run_id
