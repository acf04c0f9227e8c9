"""Day 07 fixtures: the data and candidate models, registered versions to package, and the
real steps of the week-1 pipeline (the day-03 server image, the day-05 deployer).

The steps other days taught come from their reference answers, loaded by file path, so
today's tests judge only today's code: your `week1.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_katas.impl import load_file
from mlops_katas.infra.mlflow_env import MlflowStore, isolated

ROOT = Path(__file__).resolve().parents[2]
MONITOR = ROOT / "solutions" / "day06" / "monitor.sh"
SEED = 11


@dataclass(frozen=True)
class Data:
    X_train: object
    X_test: object
    y_train: object
    y_test: object

    def split(self) -> tuple:
        """The `data` argument of `train_and_register`."""
        return self.X_train, self.X_test, self.y_train, self.y_test


def make_data() -> Data:
    """4 numeric features, 3 classes: the shape the day-03 server takes."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=600, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               class_sep=1.2, flip_y=0.03, random_state=SEED)
    return Data(*train_test_split(X, y, test_size=0.3, stratify=y, random_state=SEED))


def make_candidates() -> dict:
    """Fresh, unfitted candidates. The 1-neighbour model memorises its training rows: perfect
    there, worse than the 15-neighbour model on rows it has not seen. All of them are types
    skops loads without being told to trust anything."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "neighbours_15": KNeighborsClassifier(n_neighbors=15, algorithm="brute"),
        "memoriser": KNeighborsClassifier(n_neighbors=1, algorithm="brute"),
    }


@pytest.fixture(scope="session")
def data() -> Data:
    return make_data()


@pytest.fixture(scope="session")
def candidates():
    """Call it for a fresh dict of unfitted candidates."""
    return make_candidates


@dataclass
class Registered:
    """Two versions of one registered model, fitted and logged here, not by your code."""

    store: MlflowStore
    name: str
    versions: dict[str, str]     # "1", "2" -> run id
    models: dict[str, object]    # "1", "2" -> the fitted estimator


def register(store: MlflowStore, name: str, data: Data, order: tuple[str, ...], artifact: str = "model",
             run_id: str | None = None) -> Registered:
    """Fit the named candidates in `order`, log each under the model name `artifact` and register it as the next
    version of `name` in `store`: each in a run of its own, or all in the existing run `run_id` when it is given."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    candidates = make_candidates()
    versions, models = {}, {}
    with isolated(store):
        client = mlflow.MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.tracking_uri)
        experiment = client.get_experiment_by_name(name)  # a name registered again reuses its experiment
        experiment_id = (experiment.experiment_id if experiment is not None
                         else client.create_experiment(name, artifact_location=store.artifact_location))
        mlflow.set_tracking_uri(store.tracking_uri)
        mlflow.set_registry_uri(store.tracking_uri)
        for candidate in order:
            model = candidates[candidate].fit(data.X_train, data.y_train)
            started = (mlflow.start_run(run_id=run_id) if run_id is not None
                       else mlflow.start_run(experiment_id=experiment_id, run_name=candidate))
            with started as run:
                logged = mlflow.sklearn.log_model(
                    model, name=artifact, signature=infer_signature(data.X_train, model.predict(data.X_train)),
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
            version = str(mlflow.register_model(logged.model_uri, name).version)
            versions[version] = run.info.run_id
            models[version] = model
    return Registered(store, name, versions, models)


@pytest.fixture(scope="session")
def registering():
    """`register(store, name, data, order)` itself, for a test that registers models in a store of its own."""
    return register


@pytest.fixture(scope="session")
def registered(mlflow_store_factory, data) -> Registered:
    """`week1-package` version 1 (15 neighbours) and version 2 (logistic regression)."""
    return register(mlflow_store_factory("day07-registered"), "week1-package", data,
                    ("neighbours_15", "logistic_regression"))


@pytest.fixture(scope="session")
def registered_elsewhere(mlflow_store_factory, data) -> Registered:
    """Another store with the same model name, whose version 1 is the logistic regression: the same
    `models:/week1-package/1` names another model there."""
    return register(mlflow_store_factory("day07-registered-elsewhere"), "week1-package", data,
                    ("logistic_regression",))


@pytest.fixture(scope="session")
def registered_as_classifier(mlflow_store_factory, data) -> Registered:
    """A store whose version 1 of `week1-package` (the logistic regression) was logged under the name
    `classifier`, not `model`: only its registered URI finds it, `runs:/<run_id>/model` does not."""
    return register(mlflow_store_factory("day07-registered-classifier"), "week1-package", data,
                    ("logistic_regression",), artifact="classifier")


@pytest.fixture(scope="session")
def registered_with_a_space(mlflow_store_factory, data) -> Registered:
    """A store whose registered model's name holds a space, `week1 package`: so does its model URI."""
    return register(mlflow_store_factory("day07-registered-space"), "week1 package", data, ("logistic_regression",))


@pytest.fixture(scope="session")
def registered_with_an_accent(mlflow_store_factory, data) -> Registered:
    """A store whose registered model's name holds a letter outside ASCII, `week1 modèle`: so does its model URI."""
    return register(mlflow_store_factory("day07-registered-accent"), "week1 modèle", data, ("logistic_regression",))


@pytest.fixture(scope="session")
def registered_with_a_dollar(mlflow_store_factory, data) -> Registered:
    """A store whose registered model's name holds a `$`, `week1 $MODEL_PATH`: so does its model URI (and docker
    replaces `$MODEL_PATH` in a LABEL value with that variable unless it is escaped)."""
    return register(mlflow_store_factory("day07-registered-dollar"), "week1 $MODEL_PATH", data,
                    ("logistic_regression",))


@pytest.fixture(scope="session")
def registered_with_a_quote(mlflow_store_factory, data) -> Registered:
    """A store whose registered model's name holds a double quote and a backslash, `week1 "q" \\ b`: so does its
    model URI (inside a double-quoted Dockerfile value both must be escaped, as \\" and \\\\)."""
    return register(mlflow_store_factory("day07-registered-quote"), 'week1 "q" \\ b', data, ("logistic_regression",))


@pytest.fixture(scope="session")
def registered_with_an_apostrophe(mlflow_store_factory, data) -> Registered:
    """A store whose registered model's name holds an apostrophe, `week1's retrained`: so does its model URI (a value
    in single quotes ends at it)."""
    return register(mlflow_store_factory("day07-registered-apostrophe"), "week1's retrained", data,
                    ("logistic_regression",))


@pytest.fixture(scope="session")
def monitor() -> Path:
    """The day-06 reference monitor script."""
    return MONITOR


@pytest.fixture(scope="session")
def deploy_automation():
    """The day-05 reference deployer module, loaded by its path under a name of its own."""
    return load_file(ROOT / "solutions" / "day05" / "deploy_automation.py", "day05_reference_deploy_automation")


@pytest.fixture(scope="session")
def server_image(docker_build, tmp_path_factory) -> str:
    """The day-03 reference model server, built like day 03 builds it (so the two share docker's layer
    cache). Tagged under a name of its own: a run of day 03 keeps only its newest few `katas/day03`
    builds and would remove this one while the pipeline still builds FROM it."""
    from mlops_katas.infra.images import assemble_context

    context = assemble_context(ROOT / "solutions" / "day03", tmp_path_factory.mktemp("day07-server") / "context",
                               provided=ROOT / "katas" / "day03", names=("train_model.py", "requirements.txt"))
    return docker_build(context, name="day07-server").tag
