"""Day 02 answer: MlflowClient for the store, pandas frames with named columns, a Pipeline."""

from __future__ import annotations

import hashlib

import numpy as np

N_ROWS = 800
TEST_SHARE = 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, 5))
    y = np.repeat(np.array([0, 1]), N_ROWS // 2)
    X = centres[y] + rng.normal(scale=1.5, size=(N_ROWS, 5))
    # stratified, seeded split: pick a fixed share of each class for the test rows
    test = np.zeros(N_ROWS, dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        test[rng.choice(members, size=int(len(members) * TEST_SHARE), replace=False)] = True
    return X[~test], X[test], y[~test], y[test]


def fingerprint(*arrays: np.ndarray) -> str:
    parts = []
    for array in arrays:
        array = np.asarray(array)
        header = repr((array.dtype.str, tuple(array.shape))).encode()
        parts.append(len(header).to_bytes(8, "big") + header + array.tobytes(order="C"))
    return hashlib.sha256(b"".join(parts)).hexdigest()


FEATURES = [f"feature_{i}" for i in range(5)]


def _candidates(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "scaled-logreg": make_pipeline(StandardScaler(), LogisticRegression(C=0.5)),
        "forest": RandomForestClassifier(n_estimators=40, max_depth=6, random_state=seed),
        "linear-svm": LinearSVC(C=0.1, random_state=seed),
    }


def _score(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def _plain(params):
    return {k: v for k, v in params.items() if v is None or isinstance(v, (bool, int, float, str))}


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import time

        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        client = mlflow.MlflowClient(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        experiment_id = found.experiment_id if found else client.create_experiment(
            experiment_name, artifact_location=artifact_location)

        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        train = pd.DataFrame(X_train, columns=FEATURES)
        test = pd.DataFrame(X_test, columns=FEATURES)

        mlflow.set_tracking_uri(tracking_uri)   # log_model works on the active run of this store
        made = []
        for name, model in _candidates(seed).items():
            # the with block ends the run FAILED on any exception, KeyboardInterrupt included
            with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
                run_id = run.info.run_id
                made.append(run_id)
                model.fit(train, y_train)
                predicted = model.predict(test)
                metrics = {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
                           "roc_auc": roc_auc_score(y_test, _score(model, test))}
                now = int(time.time() * 1000)
                client.log_batch(run_id,
                                 metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                                 params=[Param(k, str(v)) for k, v in _plain(model.get_params()).items()],
                                 tags=[RunTag("dataset_fingerprint", tag)])
                mlflow.sklearn.log_model(model, name="model",
                                         signature=infer_signature(train, model.predict(train)),
                                         input_example=train.head(3),
                                         pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                         skops_trusted_types=["sklearn.tree._tree.Tree"])
        return made


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no experiment {experiment_name!r}")
    column = "metrics.`" + metric + "`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id],
                              filter_string=f"{column} > -1e308",
                              run_view_type=mlflow.entities.ViewType.ACTIVE_ONLY,
                              order_by=[f"{column} DESC", "attributes.start_time ASC"], max_results=1)
    if not page:
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return page[0].info.run_id
