"""Day 02: track a small model comparison in MLflow, with metrics you can trust.

Contract (the tests check exactly this; README tasks 1–3 explain each part):
- `make_dataset(seed=0)` -> `(X_train, X_test, y_train, y_test)`: a deterministic
  binary classification data set (same seed, same arrays) with a stratified held-out
  test split that shares no rows with the training split.
- `fingerprint(*arrays)` -> a SHA-256 hex digest of the arrays' shapes, dtypes and values.
- `run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None)` ->
  one run id per model (at least three different scikit-learn classifiers).
- `best_run(tracking_uri, experiment_name, metric="roc_auc")` -> the run id with the
  highest value of `metric`.

Import mlflow inside the functions that use it: it takes seconds to import.
"""

from __future__ import annotations

import numpy as np


def make_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A binary classification data set split into train and held-out test rows.

    The same seed always gives the same four arrays; labels are 0/1 and both classes
    appear in each split; no test row appears in the training rows.
    """
    # TODO(task 1): generate the data from `seed` and split it (stratified, seeded).
    raise NotImplementedError("task 1")


def fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 hex digest of the arrays, so a run records exactly which data it saw."""
    # TODO(task 1): hash each array's dtype, shape and bytes, in order.
    raise NotImplementedError("task 1")


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    """Train at least three different classifiers on `make_dataset(seed)`, one MLflow run each.

    Use the store at `tracking_uri` (never MLflow's default). Create the experiment
    `experiment_name` with `artifact_location` if it does not exist yet (None: the
    store decides, e.g. a server's own artifact store); an existing one is reused (looked
    up by name on every call, never remembered from an earlier call).
    Fit each model on the training rows only, reproducibly (fix the `random_state` of
    every estimator whose fit is random: the tests refit a copy on X_train and compare). Each run logs:
    - the model's hyperparameters as params (every name and value from `get_params()`),
    - metrics `accuracy`, `f1` and `roc_auc` computed on the held-out test rows,
    - the tag `dataset_fingerprint` = `fingerprint(X_train, X_test, y_train, y_test)`,
    - exactly one model, `mlflow.sklearn.log_model(model, name="model", ...)`, with a
      signature and an input example, in the default skops format (never a pickle).
    Returns the ids of the runs this call made, one per model.
    """
    # TODO(task 2): one run per model: fit, log params, real held-out metrics, tags, model.
    raise NotImplementedError("task 2")


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    """The id of the experiment's (non-deleted) run with the highest `metric`.

    Only runs of `experiment_name` count; any metric name, any value (0.0 and negative too).
    Raises LookupError when the experiment does not exist or no run logged `metric`;
    any other failure (a server that is down) propagates. Each call asks the store afresh.
    """
    # TODO(task 3): ask the store with search_runs, ordered by the metric.
    raise NotImplementedError("task 3")
