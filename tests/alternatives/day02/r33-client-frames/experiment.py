"""Day 02 answer: MlflowClient for runs/params/metrics, named DataFrame columns, handmade data."""
from __future__ import annotations

import hashlib

import numpy as np

COLUMNS = [f"f{i}" for i in range(6)]


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 500
    y = np.repeat(np.array([0, 1], dtype=np.int64), n // 2)
    centres = rng.normal(size=(2, len(COLUMNS)))
    X = centres[y] + rng.normal(scale=1.5, size=(n, len(COLUMNS)))
    order = rng.permutation(n)
    X, y = X[order], y[order]
    test = np.zeros(n, dtype=bool)
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        test[rng.choice(rows, size=len(rows) // 5, replace=False)] = True
    return X[~test].copy(), X[test].copy(), y[~test].copy(), y[test].copy()


def _one(a) -> bytes:
    a = np.asarray(a)
    h = hashlib.sha256()
    h.update(repr((a.dtype.str, a.shape)).encode())
    h.update(np.ascontiguousarray(a).data)
    return h.digest()


def fingerprint(*arrays) -> str:
    return hashlib.sha256(b"".join(_one(a) for a in arrays)).hexdigest()


def _plain(v):
    return v is None or isinstance(v, (bool, int, float, str))


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from mlflow.utils.time import get_current_time_millis
        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        from sklearn.naive_bayes import GaussianNB
        from sklearn.svm import LinearSVC

        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        exp_id = found.experiment_id if found is not None else client.create_experiment(
            experiment_name, artifact_location=artifact_location)
        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        train = pd.DataFrame(X_train, columns=COLUMNS)
        test = pd.DataFrame(X_test, columns=COLUMNS)
        made = []
        for model in (GaussianNB(), LinearSVC(random_state=seed), ExtraTreesClassifier(n_estimators=25, random_state=seed)):
            # the with block ends the run FAILED on any exception, KeyboardInterrupt included
            with mlflow.start_run(experiment_id=exp_id, tags={"dataset_fingerprint": tag},
                                  nested=mlflow.active_run() is not None) as run:
                run_id = run.info.run_id
                model.fit(train, y_train)
                predicted = model.predict(test)
                scores = (model.predict_proba(test)[:, 1] if hasattr(model, "predict_proba")
                          else model.decision_function(test))
                now = get_current_time_millis()
                values = {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
                          "roc_auc": roc_auc_score(y_test, scores)}
                client.log_batch(run_id,
                                 metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                                 params=[Param(k, str(v)) for k, v in model.get_params().items() if _plain(v)],
                                 tags=[RunTag("dataset_fingerprint", tag)])
                mlflow.sklearn.log_model(model, name="model",
                                         signature=infer_signature(train, model.predict(train)),
                                         input_example=train.head(5),
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
    key = f"metrics.`{metric}`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id], filter_string=f"{key} > -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=[f"{key} DESC"], max_results=1)
    for run in page:
        return run.info.run_id
    raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
