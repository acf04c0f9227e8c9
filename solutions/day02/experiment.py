"""Day 02: track a small model comparison in MLflow, with metrics you can trust.

Contract (the tests check exactly this):
- `make_dataset(seed=0)` -> `(X_train, X_test, y_train, y_test)`: a deterministic
  binary classification data set (same seed, same arrays) with a stratified held-out
  test split that shares no rows with the training split.
- `fingerprint(*arrays)` -> a SHA-256 hex digest of the arrays' shapes, dtypes and values.
- `run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None)` ->
  one run id per model (at least three different scikit-learn classifiers).
- `best_run(tracking_uri, experiment_name, metric="roc_auc")` -> the run id with the
  highest value of `metric`.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

METRICS = ("accuracy", "f1", "roc_auc")
MODEL_NAME = "model"
FINGERPRINT_TAG = "dataset_fingerprint"


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=600, n_features=8, n_informative=4, n_redundant=2,
                               flip_y=0.05, class_sep=0.8, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    return X_train, X_test, y_train, y_test


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        shape = np.shape(array)   # read first: ascontiguousarray turns a 0-d array into shape (1,)
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _candidates(seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logistic_regression": LogisticRegression(C=1.0, max_iter=500),
        "decision_tree": DecisionTreeClassifier(max_depth=4, random_state=seed),
        # Brute-force search stores no KD-tree, a type skops would refuse to load back.
        "k_nearest_neighbours": KNeighborsClassifier(n_neighbors=15, algorithm="brute"),
    }


def _scores(model, X: np.ndarray) -> np.ndarray:
    """Scores for ROC AUC: the positive class's probability, or the decision function."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def _evaluate(model, X_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    predicted = model.predict(X_test)
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "roc_auc": float(roc_auc_score(y_test, _scores(model, X_test))),
    }


def _experiment_id(client, name: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = _experiment_id(client, experiment_name, artifact_location)
    X_train, X_test, y_train, y_test = make_dataset(seed)
    data_tag = fingerprint(X_train, X_test, y_train, y_test)
    run_ids = []
    # A caller's autologging (a notebook's mlflow.sklearn.autolog()) would log training scores into
    # these runs: it is kept out while we train and restored, as it was, on the way out.
    with disable_autologging():
        for run_name, model in _candidates(seed).items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                model.fit(X_train, y_train)
                mlflow.log_params(model.get_params())
                mlflow.log_metrics(_evaluate(model, X_test, y_test))
                mlflow.set_tags({FINGERPRINT_TAG: data_tag, "seed": str(seed)})
                mlflow.sklearn.log_model(
                    model,
                    name=MODEL_NAME,
                    signature=infer_signature(X_train, model.predict(X_train)),
                    input_example=X_train[:3],
                    # Pinned explicitly: inference would start a second Python per model.
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    # skops refuses to load tree internals unless told they are trusted;
                    # they are: we trained these trees ourselves a moment ago.
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
                run_ids.append(run.info.run_id)
    return run_ids


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no experiment named {experiment_name!r} at {tracking_uri}")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"metrics.`{metric}` > -1e308",
        order_by=[f"metrics.`{metric}` DESC"],
        max_results=1,
    )
    if not runs:
        raise LookupError(f"no run of {experiment_name!r} has logged the metric {metric!r}")
    return runs[0].info.run_id
