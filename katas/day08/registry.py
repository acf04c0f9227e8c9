"""Day 08: a model registry workflow with aliases: challenger, champion, rollback.

Contract (the tests check exactly this; README tasks 1–5 explain each part):
- `evaluate(tracking_uri, model_uri, X_test, y_test, metric="roc_auc")` -> the metric of
  the model at `model_uri` on the given rows (`accuracy`, `f1` or `roc_auc`).
- `register_challenger(tracking_uri, run_id, model_name)` -> the new version (str),
  which now carries the alias `challenger`.
- `promote_if_better(tracking_uri, model_name, X_test, y_test, metric="roc_auc",
  margin=0.01)` -> True when `champion` moved to the challenger's version.
- `compare_versions(tracking_uri, model_name, X_test, y_test, metric="roc_auc")` ->
  one row per version, best score first.
- `rollback(tracking_uri, model_name)` -> the version `champion` points at again.

Use aliases, never the deprecated stages. Import mlflow inside the functions.
"""

from __future__ import annotations

import numpy as np


def evaluate(tracking_uri: str, model_uri: str, X_test: np.ndarray, y_test: np.ndarray,
             metric: str = "roc_auc") -> float:
    """Load the model at `model_uri` (any MLflow model URI) and score it on the given rows.

    `metric` is `accuracy`, `f1` (positive class 1) or `roc_auc` (from the positive
    class's probability); anything else raises ValueError.
    """
    # TODO(task 1): load the model from the store at tracking_uri, compute the metric.
    raise NotImplementedError("task 1")


def register_challenger(tracking_uri: str, run_id: str, model_name: str) -> str:
    """Register the model logged by `run_id` as a new version of `model_name`; alias it `challenger`.

    Creates the registered model when it does not exist. Leaves `champion` alone.
    Returns the new version number as a string. A run with no logged model raises
    LookupError.
    """
    # TODO(task 2): find the run's logged model, register it, move the alias.
    raise NotImplementedError("task 2")


def promote_if_better(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                      metric: str = "roc_auc", margin: float = 0.01) -> bool:
    """Move `champion` to the challenger's version when it scores more than `margin` higher.

    Both versions are scored with `evaluate` on the same rows. With no champion yet the
    challenger is promoted. On promotion the `challenger` alias is removed and the
    change is recorded so that `rollback` can undo it; otherwise nothing changes.
    No challenger raises LookupError; a margin that is negative or NaN ValueError
    (on every call, changing nothing).
    """
    # TODO(task 3): compare challenger and champion on the same rows; promote only if better by margin.
    raise NotImplementedError("task 3")


def compare_versions(tracking_uri: str, model_name: str, X_test: np.ndarray, y_test: np.ndarray,
                     metric: str = "roc_auc") -> list[dict]:
    """One row per version: `{"version": str, "aliases": sorted list, "run_id": str, "score": float}`.

    Sorted by score, highest first; equal scores by version number, lowest first.
    """
    # TODO(task 4): score every version on the same rows and sort the table.
    raise NotImplementedError("task 4")


def rollback(tracking_uri: str, model_name: str) -> str:
    """Point `champion` back at the version that was champion before the current one.

    Repeated calls walk further back. Returns that version; raises LookupError when
    there is no earlier champion (the champion and its history are then left as they are).
    """
    # TODO(task 5): read the champion history you recorded, step back one.
    raise NotImplementedError("task 5")
