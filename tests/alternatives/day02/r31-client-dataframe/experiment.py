"""Day 02, answer B: a hand-rolled generator, runs logged through the client, DataFrame signatures, fluent search."""

from __future__ import annotations

import hashlib

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 5, 0.3
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array([0, 1], dtype=np.int32), N_ROWS // 2)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = centres[y] + rng.normal(0.0, 1.5, size=(N_ROWS, N_FEATURES))
    test_rows = []
    for label in (0, 1):   # stratified by hand
        rows = np.flatnonzero(y == label)
        test_rows.extend(rng.choice(rows, size=int(len(rows) * TEST_SHARE), replace=False))
    is_test = np.zeros(N_ROWS, dtype=bool)
    is_test[test_rows] = True
    order = rng.permutation(N_ROWS)
    train, test = order[~is_test[order]], order[is_test[order]]
    X = X.astype(np.float32)   # float32 features: half the memory, what most serving stacks take
    return X[train], X[test], y[train], y[test]


def fingerprint(*arrays):
    h = hashlib.sha256()
    h.update(len(arrays).to_bytes(8, "little"))
    for a in arrays:
        a = np.asarray(a)
        header = f"{a.dtype.str}|{a.ndim}|{','.join(map(str, a.shape))}|"
        h.update(header.encode())
        h.update(a.tobytes(order="C"))
    return h.hexdigest()


def _models(seed):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "svc": Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf", C=1.0))]),
        "hgb": HistGradientBoostingClassifier(max_iter=50, random_state=seed),
        "nb": GaussianNB(),
        "tree": DecisionTreeClassifier(max_depth=5, random_state=seed),
    }


def _plain(params):
    return {k: v for k, v in params.items() if v is None or isinstance(v, (bool, int, float, str))}


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from mlflow.utils.time import get_current_time_millis
        from sklearn import metrics as skm

        client = mlflow.MlflowClient(tracking_uri)
        mlflow.set_tracking_uri(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id
        X_train, X_test, y_train, y_test = make_dataset(seed)
        digest = fingerprint(X_train, X_test, y_train, y_test)
        train = pd.DataFrame(X_train, columns=COLUMNS)
        test = pd.DataFrame(X_test, columns=COLUMNS)
        made = []
        for name, model in _models(seed).items():
            # the with block ends the run FAILED on any exception, KeyboardInterrupt included
            with mlflow.start_run(experiment_id=experiment_id, run_name=name,
                                  tags={"dataset_fingerprint": digest}) as run:
                run_id = run.info.run_id
                made.append(run_id)
                model.fit(train, y_train)
                predicted = model.predict(test)
                if hasattr(model, "predict_proba"):
                    score = model.predict_proba(test)[:, 1]
                else:
                    score = model.decision_function(test)
                values = {"accuracy": skm.accuracy_score(y_test, predicted), "f1": skm.f1_score(y_test, predicted),
                          "roc_auc": skm.roc_auc_score(y_test, score)}
                now = get_current_time_millis()
                client.log_batch(run_id,
                                 metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                                 params=[Param(k, str(v)) for k, v in _plain(model.get_params()).items()],
                                 tags=[RunTag("model_kind", name)])
                mlflow.sklearn.log_model(model, name="model",
                                         signature=infer_signature(train, model.predict(train)),
                                         input_example=train.head(5),
                                         pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                         skops_trusted_types=["sklearn.tree._tree.Tree",
                                             "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"])
        return made


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    mlflow.set_tracking_uri(tracking_uri)
    top = mlflow.search_runs(experiment_ids=[experiment.experiment_id],
                             filter_string=f"metrics.`{metric}` >= -1e308",
                             order_by=[f"metrics.`{metric}` DESC", "attributes.start_time ASC"],
                             max_results=1, output_format="list")
    if len(top) == 0:
        raise LookupError(f"{metric} not logged in {experiment_name}")
    return top[0].info.run_id
