"""Day 02, answer B: hand-made numpy data, np.save framing, DataFrames, fluent MLflow API."""
from __future__ import annotations

import hashlib
import io

import numpy as np

FEATURES = [f"f{i}" for i in range(6)]


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 500
    X = rng.normal(size=(n, len(FEATURES)))
    w = rng.normal(size=len(FEATURES))
    y = (X @ w + rng.normal(scale=1.0, size=n) > 0).astype(np.int64)
    test = np.zeros(n, dtype=bool)
    for label in (0, 1):  # stratified by hand: 30 % of each class held out
        rows = rng.permutation(np.flatnonzero(y == label))
        test[rows[: int(round(0.3 * len(rows)))]] = True
    return X[~test], X[test], y[~test], y[test]


def fingerprint(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        buf = io.BytesIO()
        np.save(buf, np.asarray(a, order="C"), allow_pickle=False)  # the .npy header holds dtype and shape
        h.update(len(buf.getvalue()).to_bytes(8, "little"))
        h.update(buf.getvalue())
    return h.hexdigest()


def _candidates(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "svm": make_pipeline(StandardScaler(), LinearSVC(C=0.5, random_state=seed)),
        "forest": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=seed, n_jobs=1),
        "bayes": GaussianNB(),
    }


def _score(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.models import infer_signature
        from sklearn import metrics as m

        mlflow.set_tracking_uri(tracking_uri)
        found = mlflow.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = mlflow.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id
        arrays = make_dataset(seed)
        X_train, X_test, y_train, y_test = arrays
        train = pd.DataFrame(X_train, columns=FEATURES[: X_train.shape[1]])
        test = pd.DataFrame(X_test, columns=train.columns)
        run_ids = []
        for label, model in _candidates(seed).items():
            model.fit(train, y_train)
            predicted = model.predict(test)
            params = {k: v for k, v in model.get_params().items()
                      if v is None or isinstance(v, (bool, int, float, str))}
            run = mlflow.start_run(experiment_id=experiment_id, run_name=label)
            try:
                mlflow.log_params(params)
                mlflow.log_metric("accuracy", float(m.accuracy_score(y_test, predicted)))
                mlflow.log_metric("f1", float(m.f1_score(y_test, predicted, pos_label=1)))
                mlflow.log_metric("roc_auc", float(m.roc_auc_score(y_test, _score(model, test))))
                mlflow.set_tag("dataset_fingerprint", fingerprint(*arrays))
                mlflow.sklearn.log_model(
                    model, name="model", signature=infer_signature(train, model.predict(train)),
                    input_example=train.head(2), pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
            except BaseException:
                mlflow.end_run(status="FAILED")
                raise
            mlflow.end_run()
            run_ids.append(run.info.run_id)
        return run_ids


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    key = f"metrics.`{metric}`"
    found = mlflow.search_runs(experiment_ids=[experiment.experiment_id], filter_string=f"{key} >= -1e308",
                               order_by=[f"{key} DESC"], max_results=1, output_format="list")
    if len(found) == 0:
        raise LookupError(f"no run has {metric}")
    return found[0].info.run_id
