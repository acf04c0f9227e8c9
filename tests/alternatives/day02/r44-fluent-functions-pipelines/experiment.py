"""Day 02 — correct answer, style: plain functions, fluent mlflow API, numpy arrays."""

from __future__ import annotations

import operator

import numpy as np

_MAX_SEED = 2**32 - 1


def _check_seed(seed) -> int:
    if isinstance(seed, (float, np.floating)):
        raise TypeError(f"seed must be a whole number, got {seed!r}")
    seed = operator.index(seed)
    if seed < 0 or seed > _MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**32 - 1], got {seed}")
    return int(seed)


def make_dataset(seed: int = 0):
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_redundant=1,
                               random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=seed)
    return X_train, X_test, y_train.astype(np.int64), y_test.astype(np.int64)


def fingerprint(*arrays) -> str:
    from hashlib import sha256

    digest = sha256()
    for a in arrays:
        a = np.asarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def _models(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return [
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        DecisionTreeClassifier(max_depth=5, random_state=seed),
        make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7, algorithm="brute")),
    ]


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from mlflow.utils.autologging_utils import disable_autologging
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id

    X_train, X_test, y_train, y_test = make_dataset(seed)
    tag = fingerprint(X_train, X_test, y_train, y_test)
    run_ids = []
    with disable_autologging():   # a caller's autologging would log training scores; restored on exit
        for model in _models(seed):
            with mlflow.start_run(experiment_id=experiment_id, nested=mlflow.active_run() is not None) as run:
                run_ids.append(run.info.run_id)
                model.fit(X_train, y_train)
                mlflow.log_params({k: str(v) for k, v in model.get_params().items() if _plain(v)})
                predicted = model.predict(X_test)
                if hasattr(model, "predict_proba"):
                    scores = model.predict_proba(X_test)[:, 1]
                else:
                    scores = model.decision_function(X_test)
                mlflow.log_metrics({
                    "accuracy": accuracy_score(y_test, predicted),
                    "f1": f1_score(y_test, predicted),
                    "roc_auc": roc_auc_score(y_test, scores),
                })
                mlflow.set_tags({"dataset_fingerprint": tag})
                mlflow.sklearn.log_model(
                    model, name="model",
                    signature=infer_signature(X_train, model.predict(X_train)),
                    input_example=X_train[:3],
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"],
                )
    return run_ids


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no experiment named {experiment_name!r}")
    quoted = metric.replace("`", "\\`")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string=f"metrics.`{quoted}` >= -1e308",
                              order_by=[f"metrics.`{quoted}` DESC"], max_results=1)
    if not runs:
        raise LookupError(f"no run of {experiment_name!r} logged {metric!r}")
    return runs[0].info.run_id
