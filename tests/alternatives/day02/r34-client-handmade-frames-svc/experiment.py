"""Client-API style: numpy-generated data, hand-rolled stratified split, DataFrame features,
runs started with mlflow.start_run and logged through MlflowClient.log_batch."""
from __future__ import annotations

import hashlib

import numpy as np

_N_ROWS, _N_FEATURES, _TEST_SHARE = 500, 6, 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(_N_ROWS, _N_FEATURES))
    weights = rng.normal(size=_N_FEATURES)
    y = (X @ weights + rng.normal(scale=0.8, size=_N_ROWS) > 0).astype(np.int64)
    test_idx = []
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(len(idx) * _TEST_SHARE))])
    test_mask = np.zeros(_N_ROWS, dtype=bool)
    test_mask[test_idx] = True
    return X[~test_mask], X[test_mask], y[~test_mask], y[test_mask]


def fingerprint(*arrays):
    parts = []
    for a in arrays:
        a = np.asarray(a)
        header = repr((a.dtype.str, tuple(a.shape))).encode()
        parts.append(len(header).to_bytes(8, "little") + header + np.ascontiguousarray(a).tobytes())
    return hashlib.sha256(b"".join(parts)).hexdigest()


def _frame(X):
    import pandas as pd
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _scores(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import time

        import mlflow
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        from sklearn.naive_bayes import GaussianNB
        from sklearn.svm import SVC

        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        mlflow.set_tracking_uri(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id

        arrays = make_dataset(seed)
        X_train, X_test, y_train, y_test = arrays
        tag = fingerprint(*arrays)
        train_df, test_df = _frame(X_train), _frame(X_test)
        candidates = {
            "naive-bayes": GaussianNB(),
            "forest": RandomForestClassifier(n_estimators=25, max_depth=6, random_state=seed),
            "svm": SVC(C=1.0),
        }
        made = []
        for run_name, model in candidates.items():
            # the with block ends the run FAILED on any exception, KeyboardInterrupt included
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                  nested=mlflow.active_run() is not None) as run:
                run_id = run.info.run_id
                model.fit(train_df, y_train)
                predicted = model.predict(test_df)
                now = int(time.time() * 1000)
                client.log_batch(
                    run_id,
                    metrics=[Metric("accuracy", float(accuracy_score(y_test, predicted)), now, 0),
                             Metric("f1", float(f1_score(y_test, predicted)), now, 0),
                             Metric("roc_auc", float(roc_auc_score(y_test, _scores(model, test_df))), now, 0)],
                    params=[Param(k, str(v)) for k, v in model.get_params().items()
                            if v is None or isinstance(v, (bool, int, float, str))],
                    tags=[RunTag("dataset_fingerprint", tag)])
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(train_df, model.predict(train_df)),
                    input_example=train_df.head(4),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
            made.append(run_id)
        return made


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    key = "metrics.`" + metric + "`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id],
                              filter_string=f"{key} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY,
                              order_by=[f"{key} DESC", "attributes.start_time ASC"],
                              max_results=5)
    for run in page:
        return run.info.run_id
    raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
