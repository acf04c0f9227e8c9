"""Task 4: train the candidates, log honest held-out accuracy, register the best as a new version.

The fixture calls your `train_and_register` twice against an embedded MLflow store (the
second call is a retraining: it must make version 2). The tests then read the store
themselves and recompute every score from the logged models on the held-out rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mlops_katas.infra.mlflow_env import MlflowStore, isolated

pytestmark = [pytest.mark.task(taskno=4), pytest.mark.mlflow, pytest.mark.timeout(240)]

MODEL_NAME = "week1"


@dataclass
class Training:
    store: MlflowStore
    first: object          # the Champion of the first call
    second: object         # the Champion of the retraining
    stray_writes: list[str]
    given: dict            # the candidates dict passed to the first call


@pytest.fixture(scope="module")
def training(mlflow_store_factory, data, candidates) -> Training:
    from week1 import train_and_register

    store = mlflow_store_factory("day07-training")
    given = candidates()
    with isolated(store):
        first = train_and_register(store.tracking_uri, MODEL_NAME, data=data.split(), candidates=given,
                                   artifact_location=store.artifact_location)
        second = train_and_register(store.tracking_uri, MODEL_NAME, data=data.split(), candidates=candidates(),
                                    artifact_location=store.artifact_location)
        stray = store.stray_writes()
    return Training(store, first, second, stray, given)


def _client(store: MlflowStore):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.tracking_uri)


def _first_runs(training: Training) -> dict:
    """Run name -> run, for the first call's runs (the oldest run of each name)."""
    client = _client(training.store)
    experiment = client.get_experiment_by_name(MODEL_NAME)
    assert experiment is not None, f"the runs should be in an experiment named after the model, {MODEL_NAME!r}"
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    first = {}
    for run in runs:
        first.setdefault(run.info.run_name, run)
    return first


def _logged_model(training: Training, run):
    import mlflow

    client = _client(training.store)
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run.info.run_id}'")
    assert len(logged) == 1, (f"run {run.info.run_name!r} should log exactly one model "
                              f"(mlflow.sklearn.log_model(model, name='model', ...)), found {len(logged)}")
    with isolated(training.store):
        mlflow.set_tracking_uri(training.store.tracking_uri)
        return mlflow.sklearn.load_model(logged[0].model_uri)


def _held_out_accuracy(training: Training, run, data) -> float:
    from sklearn.metrics import accuracy_score

    model = _logged_model(training, run)
    return float(accuracy_score(data.y_test, model.predict(data.X_test)))


def test_every_candidate_gets_a_run_named_after_it(training, candidates):
    runs = _first_runs(training)
    assert sorted(runs) == sorted(candidates()), (
        f"each candidate should have a run named after it ({sorted(candidates())}), found {sorted(runs)}")


def test_logged_accuracy_is_measured_on_the_held_out_rows(training, data):
    for name, run in _first_runs(training).items():
        logged = run.data.metrics.get("accuracy")
        assert logged is not None, f"run {name!r} should log the metric 'accuracy'; it logged {sorted(run.data.metrics)}"
        actual = _held_out_accuracy(training, run, data)
        assert logged == pytest.approx(actual, abs=1e-9), (
            f"run {name!r} logged accuracy {logged!r}, but its model scores {actual!r} on the held-out rows: "
            "log it on X_test with every digit, not rounded, or measured on the rows the model was fitted on")


def test_every_model_is_fitted_on_the_training_rows_only(training, data, candidates):
    from sklearn.base import clone

    runs = _first_runs(training)
    for name, candidate in candidates().items():
        if name not in runs:
            continue  # test_every_candidate_gets_a_run_named_after_it says so
        # The candidates are deterministic: the same rows give the same model, other rows another one.
        wanted = clone(candidate).fit(data.X_train, data.y_train).predict(data.X_test).tolist()
        logged = _logged_model(training, runs[name]).predict(data.X_test).tolist()
        assert logged == wanted, (
            f"the model run {name!r} logged predicts the held-out rows differently from the candidate fitted on "
            "X_train, y_train: fit on the training rows only (a model that has seen the held-out rows, "
            "like the memoriser, scores itself on rows it remembers)")


def test_champion_is_the_best_candidate_on_held_out_accuracy(training, data):
    runs = _first_runs(training)
    scores = {name: _held_out_accuracy(training, run, data) for name, run in runs.items()}
    best = max(scores, key=scores.get)
    champion = training.first
    assert champion.run_id == runs[best].info.run_id, (
        f"the champion should be the run of {best!r} (held-out accuracy {scores[best]:.4f}); "
        f"held-out scores were {({k: round(v, 4) for k, v in scores.items()})}")
    assert champion.score == pytest.approx(scores[best], abs=1e-9), (
        f"champion.score should be the best held-out accuracy {scores[best]:.4f}, got {champion.score!r}")


def test_champion_is_a_registered_version_of_that_run(training):
    champion = training.first
    assert champion.version == "1" and champion.model_uri == f"models:/{MODEL_NAME}/1", (
        f"the first registration should be version '1' at models:/{MODEL_NAME}/1, got "
        f"version={champion.version!r} model_uri={champion.model_uri!r}")
    version = _client(training.store).get_model_version(MODEL_NAME, "1")
    assert version.run_id == champion.run_id, (
        f"version 1 of {MODEL_NAME!r} should come from the champion's run {champion.run_id}, not {version.run_id}")


def test_retraining_registers_a_new_version_and_moves_the_challenger_alias(training):
    assert training.second.version == "2", f"training again should register version '2', got {training.second.version!r}"
    aliased = _client(training.store).get_model_version_by_alias(MODEL_NAME, "challenger")
    assert str(aliased.version) == "2", f"the alias 'challenger' should point at the newest version 2, not {aliased.version}"


def test_the_registered_model_has_a_signature_for_four_features(training):
    import mlflow
    from mlflow.models import Model

    with isolated(training.store):
        mlflow.set_registry_uri(training.store.tracking_uri)
        signature = Model.load(training.first.model_uri).signature
    assert signature is not None, "log the model with a signature (mlflow.models.infer_signature)"
    width = signature.inputs.to_dict()[0].get("tensor-spec", {}).get("shape", [None, None])[-1]
    assert width == 4, f"the signature should describe rows of 4 features, got {signature.inputs}"


def test_nothing_is_written_outside_the_store(training):
    assert training.stray_writes == [], (
        "train_and_register wrote outside the tracking_uri and artifact_location it was given: "
        + "; ".join(training.stray_writes))


def test_the_callers_candidates_stay_unfitted(training):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    fitted = []
    for name, estimator in training.given.items():
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            continue
        fitted.append(name)
    assert fitted == [], (
        f"train_and_register fitted the caller's own estimators {fitted}: fit a copy (sklearn.base.clone) "
        "and leave the candidates it was given unfitted")


def test_champion_is_the_best_run_of_this_training_not_of_an_earlier_one(mlflow_store_factory, data, candidates):
    from sklearn.dummy import DummyClassifier

    from week1 import train_and_register

    store = mlflow_store_factory("day07-this-training")
    # Not the name the other tests use: the experiment and the model follow model_name, whatever text it is (a quote
    # included: a name written into a filter string such as f"name = '{model_name}'" breaks it).
    name = "week1's retrained"
    with isolated(store):
        try:
            train_and_register(store.tracking_uri, name, data=data.split(),
                               candidates={"logistic_regression": candidates()["logistic_regression"]},
                               artifact_location=store.artifact_location)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported below
            pytest.fail(f"train_and_register should take the model name {name!r} as it is (a quote included): look the "
                        "experiment and the registered model up by name (get_experiment_by_name), never by writing "
                        f"the name into a filter string; it raised {type(exc).__name__}: {str(exc)[:200]}",
                        pytrace=False)
        # Retraining with only a weaker candidate: the earlier, better run is still in the experiment.
        weaker = train_and_register(store.tracking_uri, name, data=data.split(),
                                    candidates={"constant": DummyClassifier(strategy="most_frequent")},
                                    artifact_location=store.artifact_location)
    client = _client(store)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, f"the runs should be in an experiment named after the model_name given, {name!r}"
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert "constant" in runs, f"the retraining should log a run named 'constant'; found {sorted(runs)}"
    assert weaker.run_id == runs["constant"].info.run_id, (
        "the champion should be the best of the runs this call made (only 'constant'), not a better run an "
        "earlier training left in the experiment")
    version = client.get_model_version(name, weaker.version)
    assert version.run_id == runs["constant"].info.run_id, (
        f"version {weaker.version} should come from this training's run, not from {version.run_id}")


def test_a_best_score_of_zero_is_still_registered(mlflow_store_factory, data):
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from week1 import train_and_register

    # The constant model predicts the training rows' most frequent class, which no held-out row has.
    majority = int(np.bincount(data.y_train).argmax())
    unseen = data.y_test != majority
    store = mlflow_store_factory("day07-zero-score")
    name = "week1-zero"
    with isolated(store):
        champion = train_and_register(store.tracking_uri, name,
                                      data=(data.X_train, data.X_test[unseen], data.y_train, data.y_test[unseen]),
                                      candidates={"constant": DummyClassifier(strategy="most_frequent")},
                                      artifact_location=store.artifact_location)
    assert champion.score == 0.0, f"the constant model gets every held-out row wrong: score 0.0, got {champion.score!r}"
    assert champion.version == "1", (
        "the best run scored 0.0 and is still the best: it should be registered as version '1' (the gate, not "
        f"training, refuses a weak model); got version {champion.version!r}")
    client = _client(store)
    experiment = client.get_experiment_by_name(name)
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])} if experiment else {}
    assert "constant" in runs and champion.run_id == runs["constant"].info.run_id, (
        f"the champion should be the run of 'constant', the only candidate; it names run {champion.run_id!r}")
    version = client.get_model_version(name, "1")
    assert version.run_id == champion.run_id, f"version 1 should come from the champion's run, not {version.run_id}"


def test_the_new_version_goes_to_tracking_uri_whatever_registry_an_earlier_step_set(mlflow_store_factory, data,
                                                                                   candidates):
    import mlflow

    from week1 import train_and_register

    store, elsewhere = mlflow_store_factory("day07-train-registry"), mlflow_store_factory("day07-train-elsewhere")
    name = "week1-registry"
    with isolated(store):
        # An earlier step of the same process (packaging another store's model, say) left MLflow's registry URI
        # pointing at another store.
        mlflow.set_registry_uri(elsewhere.tracking_uri)
        try:
            champion = train_and_register(store.tracking_uri, name, data=data.split(),
                                          candidates={"logistic_regression": candidates()["logistic_regression"]},
                                          artifact_location=store.artifact_location)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported below
            pytest.fail(f"train_and_register should register in the registry at tracking_uri whatever registry URI an "
                        "earlier step set (set both mlflow.set_tracking_uri and mlflow.set_registry_uri, and give "
                        f"MlflowClient both); it raised {type(exc).__name__}: {str(exc)[:200]}", pytrace=False)
    strays = [model.name for model in _client(elsewhere).search_registered_models()]
    assert strays == [], (
        f"train_and_register registered {strays} in the store an earlier step had set as MLflow's registry URI: "
        "work against tracking_uri only (set the registry URI to it too, and make the client with "
        "registry_uri=tracking_uri)")
    try:
        version = _client(store).get_model_version(name, champion.version)
    except Exception as exc:  # noqa: BLE001 - reported below
        pytest.fail(f"the store at tracking_uri should hold version {champion.version} of {name!r}, the champion; "
                    f"looking it up raised {type(exc).__name__}: {str(exc)[:200]}", pytrace=False)
    assert version.run_id == champion.run_id, (
        f"version {champion.version} of {name!r} at tracking_uri should come from the champion's run "
        f"{champion.run_id}, not {version.run_id}")
