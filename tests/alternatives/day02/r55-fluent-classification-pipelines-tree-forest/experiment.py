"""Day 02, answer in the 'classic' style: sklearn generators, fluent MLflow API."""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

MAX_SEED = 2**32 - 1


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a whole number (int), got {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in 0..2**32-1, got {seed}")
    return seed


def make_dataset(seed: int = 0):
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    X, y = make_classification(n_samples=600, n_features=8, n_informative=4, n_redundant=2,
                               random_state=seed)
    return tuple(train_test_split(X, y.astype(np.int64), test_size=0.25, stratify=y, random_state=seed))


def fingerprint(*arrays) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        shape = a.shape
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _models(seed: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return [
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]),
        DecisionTreeClassifier(max_depth=5, random_state=seed),
        RandomForestClassifier(n_estimators=50, random_state=seed),
        Pipeline([("scale", StandardScaler()), ("clf", KNeighborsClassifier(n_neighbors=15, algorithm="brute"))]),
    ]


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    seed = _check_seed(seed)
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
    elif experiment.lifecycle_stage != "active":
        raise MlflowException(f"experiment {experiment_name!r} is deleted")
    else:
        experiment_id = experiment.experiment_id

    X_train, X_test, y_train, y_test = make_dataset(seed)
    tag = fingerprint(X_train, X_test, y_train, y_test)
    run_ids = []
    with disable_autologging():
        for model in _models(seed):
            nested = mlflow.active_run() is not None
            with mlflow.start_run(experiment_id=experiment_id, nested=nested) as run:
                model.fit(X_train, y_train)
                mlflow.log_params({k: v for k, v in model.get_params().items()
                                   if v is None or isinstance(v, (bool, int, float, str))})
                predicted = model.predict(X_test)
                if hasattr(model, "predict_proba"):
                    scores = model.predict_proba(X_test)[:, 1]
                else:
                    scores = model.decision_function(X_test)
                mlflow.log_metrics({
                    "accuracy": float(accuracy_score(y_test, predicted)),
                    "f1": float(f1_score(y_test, predicted)),
                    "roc_auc": float(roc_auc_score(y_test, scores)),
                })
                mlflow.set_tags({"dataset_fingerprint": tag})
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(X_train, model.predict(X_train)),
                    input_example=X_train[:3],
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
                run_ids.append(run.info.run_id)
    return run_ids


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or experiment.lifecycle_stage != "active":
        raise LookupError(f"no experiment named {experiment_name!r}")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string=f"metrics.`{metric}` >= -1e308",
                              order_by=[f"metrics.`{metric}` DESC"], max_results=1)
    if not runs:
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return runs[0].info.run_id
