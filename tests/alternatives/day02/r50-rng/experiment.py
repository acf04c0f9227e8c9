"""Day 02 — answer B: numpy Generator data, manual stratified split, DataFrame inputs,
explicit run lifecycle with try/except BaseException."""
from __future__ import annotations

import hashlib
import operator

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 800, 6, 0.3


def make_dataset(seed: int = 0):
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("a bool is not a seed")
    seed = operator.index(seed)   # ints and numpy integers only; 3.7 raises TypeError
    if not 0 <= seed <= 2**32 - 1:
        raise ValueError(f"seed {seed} is outside 0..2**32-1")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    weights = rng.normal(size=N_FEATURES)
    logits = X @ weights + 0.5 * rng.normal(size=N_ROWS)
    y = (logits > np.median(logits)).astype(np.int64)
    test_idx = []
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(len(idx) * TEST_SHARE))])
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_idx] = True
    return X[~is_test].copy(), X[is_test].copy(), y[~is_test].copy(), y[is_test].copy()


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for position, array in enumerate(arrays):
        array = np.asarray(array)
        header = f"#{position}:{array.dtype.str}:{array.shape};"
        h.update(header.encode("utf-8"))
        h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return h.hexdigest()


def _candidates(seed: int) -> dict:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "gaussian-nb": GaussianNB(),
        "svc-rbf": Pipeline([("scale", StandardScaler()), ("svc", SVC(C=1.0))]),  # no probabilities
        "gradient-boosting": GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=seed),
    }


def _scores(model, X_test, y_test) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    predicted = model.predict(X_test)
    try:
        ranking = model.predict_proba(X_test)[:, 1]
    except AttributeError:
        ranking = model.decision_function(X_test)
    return {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted, pos_label=1),
            "roc_auc": roc_auc_score(y_test, ranking)}


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment_name)
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(experiment_name, artifact_location=artifact_location))

    arrays = make_dataset(seed)
    digest = fingerprint(*arrays)
    X_train, X_test, y_train, y_test = arrays
    columns = [f"x{i}" for i in range(X_train.shape[1])]
    train_df, test_df = pd.DataFrame(X_train, columns=columns), pd.DataFrame(X_test, columns=columns)

    made: list[str] = []
    nested = mlflow.active_run() is not None
    with disable_autologging():
        for run_name, model in _candidates(seed).items():
            run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested,
                                   tags={"dataset_fingerprint": digest})
            try:
                model.fit(train_df, y_train)
                mlflow.log_params({name: str(value) for name, value in model.get_params(deep=True).items()
                                   if value is None or isinstance(value, (str, int, float, bool))})
                mlflow.log_metrics({k: float(v) for k, v in _scores(model, test_df, y_test).items()})
                example = train_df.head(5)
                mlflow.sklearn.log_model(model, name="model",
                                         signature=infer_signature(train_df, model.predict(train_df)),
                                         input_example=example,
                                         pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                         skops_trusted_types=["sklearn.tree._tree.Tree"])
            except BaseException:
                mlflow.end_run(status="FAILED")
                raise
            mlflow.end_run()
            made.append(run.info.run_id)
    return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    key = "metrics.`" + metric.replace("`", r"\`") + "`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id], filter_string=f"{key} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=[f"{key} DESC"], max_results=1)
    if len(page) == 0:
        raise LookupError(f"{metric} in {experiment_name}")
    return page[0].info.run_id
