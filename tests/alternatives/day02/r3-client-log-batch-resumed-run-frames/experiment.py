"""Answer B: own numpy generator and split, np.save-based digest, MlflowClient + DataFrame signature."""
from __future__ import annotations

import hashlib
import io

import numpy as np

FEATURES = [f"f{i}" for i in range(6)]


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 500
    X = rng.normal(size=(n, len(FEATURES)))
    weights = rng.normal(size=len(FEATURES))
    logits = X @ weights + rng.normal(scale=0.5, size=n)
    y = (logits > np.median(logits)).astype(np.int64)
    test = np.zeros(n, dtype=bool)
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        chosen = rng.choice(idx, size=int(round(len(idx) * 0.3)), replace=False)
        test[chosen] = True
    return X[~test], X[test], y[~test], y[test]


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        buf = io.BytesIO()
        np.save(buf, np.asarray(a, order="C"), allow_pickle=False)
        h.update(buf.getvalue())
    return h.hexdigest()


def _models(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "scaled-logreg": make_pipeline(StandardScaler(), LogisticRegression(C=0.5, random_state=seed)),
        "forest": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=seed),
        "naive-bayes": GaussianNB(),
        "linear-svc": LinearSVC(random_state=seed),
    }


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import time

        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.models import infer_signature
        from sklearn import metrics

        client = mlflow.MlflowClient(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
        else:
            experiment_id = found.experiment_id
        X_train, X_test, y_train, y_test = make_dataset(seed)
        frame_train = pd.DataFrame(X_train, columns=FEATURES)
        frame_test = pd.DataFrame(X_test, columns=FEATURES)
        digest = fingerprint(X_train, X_test, y_train, y_test)
        mlflow.set_tracking_uri(tracking_uri)
        run_ids = []
        for name, model in _models(seed).items():
            model.fit(frame_train, y_train)
            predicted = model.predict(frame_test)
            if hasattr(model, "predict_proba"):
                scores = model.predict_proba(frame_test)[:, 1]
            else:
                scores = model.decision_function(frame_test)
            params = {k: v for k, v in model.get_params().items()
                      if v is None or isinstance(v, (bool, int, float, str))}
            # a failure anywhere in the block (logging, save) ends this run as FAILED
            with mlflow.start_run(experiment_id=experiment_id, run_name=name,
                                  tags={"dataset_fingerprint": digest}) as run:
                run_id = run.info.run_id
                now = int(time.time() * 1000)
                client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()],
                                 metrics=[mlflow.entities.Metric(k, float(v), now, 0) for k, v in {
                                     "accuracy": metrics.accuracy_score(y_test, predicted),
                                     "f1": metrics.f1_score(y_test, predicted),
                                     "roc_auc": metrics.roc_auc_score(y_test, scores)}.items()])
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(frame_train, model.predict(frame_train)),
                    input_example=frame_train.head(5),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}", "pandas"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
            run_ids.append(run_id)
        return run_ids


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.MlflowClient(tracking_uri).get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    frame = mlflow.search_runs(experiment_ids=[experiment.experiment_id],
                               order_by=[f"metrics.`{metric}` DESC"], max_results=1)
    column = f"metrics.{metric}"
    if frame.empty or column not in frame or frame[column].isna().iloc[0]:
        raise LookupError(f"no run of {experiment_name} logged {metric}")
    return str(frame["run_id"].iloc[0])
