"""Day 02 answer, style: fluent MLflow API, make_classification + train_test_split, numpy signature."""

from __future__ import annotations

import hashlib

import numpy as np


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    # check_random_state refuses negatives, > 2**32 - 1 and non-integers (3.7) itself.
    X, y = make_classification(n_samples=600, n_features=8, n_informative=4, n_redundant=2,
                               random_state=seed)
    return tuple(train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed))


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        # the shape before ascontiguousarray, which turns a 0-d array into shape (1,)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _models(seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return [LogisticRegression(max_iter=1000),
            DecisionTreeClassifier(max_depth=5, random_state=seed),
            KNeighborsClassifier(n_neighbors=15, algorithm="brute")]


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import sklearn
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri)
        experiment = client.get_experiment_by_name(experiment_name)
        experiment_id = (experiment.experiment_id if experiment is not None
                         else client.create_experiment(experiment_name, artifact_location=artifact_location))
        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        run_ids = []
        for model in _models(seed):
            with mlflow.start_run(experiment_id=experiment_id, run_name=type(model).__name__) as run:
                model.fit(X_train, y_train)
                mlflow.log_params(model.get_params())
                predicted = model.predict(X_test)
                scores = (model.predict_proba(X_test)[:, 1] if hasattr(model, "predict_proba")
                          else model.decision_function(X_test))
                mlflow.log_metrics({"accuracy": accuracy_score(y_test, predicted),
                                    "f1": f1_score(y_test, predicted),
                                    "roc_auc": roc_auc_score(y_test, scores)})
                mlflow.set_tags({"dataset_fingerprint": tag})
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(X_train, model.predict(X_train)),
                    input_example=X_train[:3],
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
                run_ids.append(run.info.run_id)
        return run_ids


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no experiment named {experiment_name!r}")
    quoted = metric.replace("`", "\\`")
    runs = client.search_runs([experiment.experiment_id], filter_string=f"metrics.`{quoted}` > -1e308",
                              order_by=[f"metrics.`{quoted}` DESC"], max_results=1)
    if not runs:
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return runs[0].info.run_id
