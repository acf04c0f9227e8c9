"""Day 08 fixtures: trained models already logged in runs, ready for your registry code.

Training is not today's lesson (that was day 02), so the runs are made here, once per
machine (later test runs copy the store), and each test registers them under a model name
of its own. The models differ in quality on purpose, and one run logs a misleading metric
(its training score), the way careless pipelines do.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_katas.infra.mlflow_env import MlflowStore, filled_store, isolated, sqlite_uri

SEED = 11


@dataclass
class Runs:
    tracking_uri: str
    store: MlflowStore
    run_ids: dict[str, str]      # "weak", "good", "best", "overclaimed", "no_model" -> run id
    model_uris: dict[str, str]   # the same names (but "no_model") -> models:/m-... of the logged model
    X_test: object
    y_test: object
    held_out: dict[str, float] | None = None  # model -> ROC AUC on X_test (the embedded runs only)


def _dataset():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=800, n_features=8, n_informative=4, n_redundant=2,
                               flip_y=0.05, class_sep=0.8, random_state=SEED)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=SEED)


def _candidates():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "weak": DecisionTreeClassifier(max_depth=1, random_state=SEED),
        "good": LogisticRegression(max_iter=500),
        "best": KNeighborsClassifier(n_neighbors=15, algorithm="brute"),
        # Memorises the training rows: perfect there, mediocre on held-out rows.
        "overclaimed": DecisionTreeClassifier(random_state=SEED),
    }


def _log_runs(tracking_uri: str, store: MlflowStore, artifact_location: str | None) -> Runs:
    import uuid

    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.metrics import roc_auc_score

    X_train, X_test, y_train, y_test = _dataset()
    run_ids, model_uris = {}, {}
    with isolated(store):
        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri)
        experiment_id = client.create_experiment(f"day08-training-{uuid.uuid4().hex[:8]}",
                                                 artifact_location=artifact_location)
        for name, model in _candidates().items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
                model.fit(X_train, y_train)
                rows = (X_train, y_train) if name == "overclaimed" else (X_test, y_test)
                mlflow.log_metric("roc_auc", roc_auc_score(rows[1], model.predict_proba(rows[0])[:, 1]))
                info = mlflow.sklearn.log_model(
                    model, name="model", signature=infer_signature(X_train, model.predict(X_train)),
                    input_example=X_train[:2], pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    skops_trusted_types=["sklearn.tree._tree.Tree"])
                run_ids[name] = run.info.run_id
                model_uris[name] = info.model_uri
        with mlflow.start_run(experiment_id=experiment_id, run_name="no_model") as run:
            mlflow.log_metric("roc_auc", 0.5)
            run_ids["no_model"] = run.info.run_id
    return Runs(tracking_uri, store, run_ids, model_uris, X_test, y_test)


@pytest.fixture(scope="session")
def runs(mlflow_store_factory) -> Runs:
    """Runs in an embedded SQLite store; the registry lives in the same database."""
    store = mlflow_store_factory("day08-embedded")

    def fill(built: MlflowStore) -> dict:
        logged = _log_runs(built.tracking_uri, built, built.artifact_location)
        return {"run_ids": logged.run_ids, "model_uris": logged.model_uris, "held_out": _held_out(logged)}

    # Trained, logged and scored on the first run on this machine; later runs copy that store.
    logged = filled_store(store, Path(__file__).read_bytes(), fill)
    _, X_test, _, y_test = _dataset()
    return Runs(store.tracking_uri, store, logged["run_ids"], logged["model_uris"], X_test, y_test,
                logged["held_out"])


@pytest.fixture(scope="session")
def served_runs(mlflow_store_factory, mlflow_server) -> Runs:
    """The same runs logged through the tracking server."""
    return _log_runs(mlflow_server.url, mlflow_store_factory("day08-served"), None)


@pytest.fixture
def registry(runs: Runs):
    """Isolates MLflow's process defaults while a test runs your registry code."""
    with isolated(runs.store):
        yield runs


@pytest.fixture
def test_side_mlflow(registry: Runs):
    """`with test_side_mlflow() as mlflow:` for the test's own MLflow calls (registering, loading).

    Inside, MLflow's tracking and registry URIs point at the test store; afterwards the tracking
    URI points back at a store that is not the test's (so code under test that ignores its
    `tracking_uri` still fails) and the registry URI is as the code under test left it.
    """

    @contextmanager
    def use():
        import os

        import mlflow
        from mlflow.tracking import _model_registry

        # The registry URI too: code under test may have left it set (say, restored to the URI it
        # found). Whatever it was is put back afterwards, so the test leaves no trace of its own.
        saved = (_model_registry.utils._registry_uri, os.environ.get("MLFLOW_REGISTRY_URI"))
        mlflow.set_tracking_uri(registry.tracking_uri)
        mlflow.set_registry_uri(registry.tracking_uri)
        try:
            yield mlflow
        finally:
            mlflow.set_tracking_uri(registry.store.default_uri)
            _model_registry.utils._registry_uri = saved[0]
            if saved[1] is None:
                os.environ.pop("MLFLOW_REGISTRY_URI", None)
            else:
                os.environ["MLFLOW_REGISTRY_URI"] = saved[1]

    return use


@pytest.fixture
def rows_one_apart(registry: Runs, test_side_mlflow):
    """`rows_one_apart(name, n)`: test-row indices (rows repeat) on which version 2 of `name` gets
    exactly one more answer right than version 1: n rows both get right, n both get wrong and one
    only version 2 gets right, so version 2's accuracy is higher by exactly 1/(2n + 1). A real gain
    far smaller than any rounding a careless comparison does."""

    def pick(name: str, n: int):
        import numpy as np

        with test_side_mlflow() as mlflow:
            right = [mlflow.sklearn.load_model(f"models:/{name}/{v}").predict(registry.X_test) == registry.y_test
                     for v in ("1", "2")]
        only_2 = np.flatnonzero(~right[0] & right[1])
        both_right, both_wrong = np.flatnonzero(right[0] & right[1]), np.flatnonzero(~right[0] & ~right[1])
        assert len(only_2) and len(both_right) and len(both_wrong), "setup: the two versions should differ on some rows"
        return np.concatenate([np.resize(both_right, n), np.resize(both_wrong, n), only_2[:1]])

    return pick


@pytest.fixture
def second_store(registry: Runs, tmp_path) -> str:
    """The URI of a copy of the test store taken when the test starts: the same runs and logged
    models, its own registry from then on (where code that ignores its `tracking_uri` ends up)."""
    import sqlite3
    from contextlib import closing

    copy = tmp_path / "second-store.db"
    with closing(sqlite3.connect(registry.store.db_path)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return sqlite_uri(copy)


@pytest.fixture
def served_registry(served_runs: Runs):
    with isolated(served_runs.store):
        yield served_runs


@pytest.fixture(scope="session")
def held_out(runs: Runs) -> dict[str, float]:
    """Held-out scores the tests expect, computed with scikit-learn directly (once, with the store)."""
    scores = runs.held_out
    # The tests rely on this order, with clear gaps: weak < overclaimed < good < best.
    assert scores["weak"] + 0.02 < scores["overclaimed"] + 0.02 < scores["good"] + 0.02 < scores["best"], scores
    return scores


def _held_out(runs: Runs) -> dict[str, float]:
    import mlflow
    from sklearn.metrics import roc_auc_score

    scores = {}
    with isolated(runs.store):
        mlflow.set_tracking_uri(runs.tracking_uri)
        for name, uri in runs.model_uris.items():
            model = mlflow.sklearn.load_model(uri)
            scores[name] = float(roc_auc_score(runs.y_test, model.predict_proba(runs.X_test)[:, 1]))
    return scores


@pytest.fixture(params=["matching-as-a-pattern", "starting-the-same", "with-a-space-at-the-end", "in-capitals"])
def other_name(request, mlflow_name: str) -> str:
    """Another model's name beside this one's ("churn_eu"): "churn-eu" is what "churn_eu" matches as a LIKE
    pattern ('_' stands for any one character there); "churn_eu-eu" starts the same; "churn_eu " and "CHURN_EU"
    are what trimming or case folding would take for it."""
    other = {"matching-as-a-pattern": mlflow_name.replace("_", "-"), "starting-the-same": f"{mlflow_name}-eu",
             "with-a-space-at-the-end": f"{mlflow_name} ", "in-capitals": mlflow_name.upper()}[request.param]
    assert other != mlflow_name, f"setup: the other name should differ from {mlflow_name!r} ({request.param})"
    return other


@pytest.fixture
def runs_one_pair_apart(registry: Runs, test_side_mlflow):
    """`runs_one_pair_apart(n)` -> (run ids, X, y, scores): two runs logged in the test store, each with a logistic
    regression on two features, and n negative plus n positive rows (rows repeat) on which the two models rank every
    positive/negative pair alike but one, which only the second ranks right. Its ROC AUC (in `scores`, computed with
    scikit-learn directly) is higher by exactly 1/n² (4.4e-7 for n = 1,500; about 1.6e-12 for n = 800,000): a real gain
    far below any rounding or float tolerance a careless comparison uses."""

    def make(n: int):
        import uuid

        import numpy as np
        import sklearn
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        low = n * 47 // 100
        # Scores are x1 + w * x2. Negatives at x1 = 0 or 2, positives at 1 or 3; one pair at x1 = 1.5 that only the
        # second feature orders: the first model (w < 0) puts its negative above its positive, the second does not.
        X = np.zeros((2 * n, 2))
        X[:low, 0], X[low:n - 1, 0], X[n - 1] = 0.0, 2.0, (1.5, -1.0)
        X[n:n + low, 0], X[n + low:2 * n - 1, 0], X[2 * n - 1] = 1.0, 3.0, (1.5, 1.0)
        y = np.repeat([0, 1], n)
        run_ids, scores = [], []
        with test_side_mlflow() as mlflow:
            experiment_id = mlflow.MlflowClient(registry.tracking_uri).create_experiment(
                f"day08-one-pair-apart-{uuid.uuid4().hex[:8]}", artifact_location=registry.store.artifact_location)
            for weight in (-0.25, 0.25):
                model = LogisticRegression().fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
                model.coef_, model.intercept_ = np.array([[1.0, weight]]), np.array([0.0])
                with mlflow.start_run(experiment_id=experiment_id) as run:
                    mlflow.sklearn.log_model(model, name="model",
                                             pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
                run_ids.append(run.info.run_id)
                scores.append(float(roc_auc_score(y, model.predict_proba(X)[:, 1])))
        assert scores[1] - scores[0] == pytest.approx(1 / n**2, rel=1e-3), (
            f"setup: the second model should score 1/n² higher than the first: {scores}")
        return run_ids, X, y, scores

    return make
