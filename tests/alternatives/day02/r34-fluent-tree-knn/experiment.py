from __future__ import annotations

import hashlib

import numpy as np


def make_dataset(seed: int = 0):
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5,
                               random_state=seed)
    return train_test_split(X, y.astype(np.int64), test_size=0.25, stratify=y,
                            random_state=seed)


def fingerprint(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a, order="C")
        h.update(f"{a.dtype.str}{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import mlflow.sklearn
        import sklearn
        from mlflow.models import infer_signature
        from sklearn.linear_model import LogisticRegression
        from sklearn.tree import DecisionTreeClassifier
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri)
        exp = client.get_experiment_by_name(experiment_name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            experiment_name, artifact_location=artifact_location)
        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        models = [LogisticRegression(max_iter=1000),
                  DecisionTreeClassifier(max_depth=5, random_state=seed),
                  KNeighborsClassifier(algorithm="brute")]
        ids = []
        nested = mlflow.active_run() is not None
        for model in models:
            with mlflow.start_run(experiment_id=exp_id, nested=nested) as run:
                model.fit(X_train, y_train)
                params = {k: v for k, v in model.get_params().items()
                          if v is None or isinstance(v, (int, float, str, bool))}
                mlflow.log_params(params)
                pred = model.predict(X_test)
                proba = model.predict_proba(X_test)[:, 1]
                mlflow.log_metrics({"accuracy": accuracy_score(y_test, pred),
                                    "f1": f1_score(y_test, pred),
                                    "roc_auc": roc_auc_score(y_test, proba)})
                mlflow.set_tags({"dataset_fingerprint": tag})
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(X_train, model.predict(X_train)),
                    input_example=X_train[:3],
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
                ids.append(run.info.run_id)
        return ids


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow
    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        raise LookupError(f"no experiment {experiment_name!r}")
    runs = client.search_runs([exp.experiment_id],
                              filter_string=f"metrics.`{metric}` >= -1e308",
                              order_by=[f"metrics.`{metric}` DESC"], max_results=1)
    if not runs:
        raise LookupError(f"no run with metric {metric!r}")
    return runs[0].info.run_id
