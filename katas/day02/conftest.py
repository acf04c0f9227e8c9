"""Day 02 fixtures: your experiment, run once against an embedded store and once via a server.

Training and logging take seconds, so each is done once per test run and shared by
the tests that read from it. Your `experiment` module is imported inside the
fixtures (the harness decides which folder it comes from). The tests then load
every logged model back and recompute its metrics themselves.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import pytest

from mlops_katas.infra.mlflow_env import MlflowStore, isolated

SEED = 7
EXISTING_SEED = 0  # the default seed: the run into an existing experiment passes no seed
EXPERIMENT = 'ana\'s "day02" model-comparison'  # quotes of both kinds: MLflow accepts them, a filter string does not
# The existing experiment's name ends in a space: another experiment than EXPERIMENT, taken exactly as given.
EXISTING_EXPERIMENT = EXPERIMENT + " "


@dataclass
class LoggedModel:
    run: object              # mlflow.entities.Run
    model_uri: str           # models:/<model id>
    name: str                # the name it was logged under (log_model's name=)
    artifact_location: str   # where the model's files are stored
    sklearn_model: object    # the estimator, loaded back with mlflow.sklearn
    pyfunc_model: object     # the same model through the generic pyfunc interface
    mlmodel: object          # mlflow.models.Model: signature, input example info


@dataclass
class Experiment:
    tracking_uri: str
    name: str
    seed: int
    run_ids: list[str]
    artifact_location: str | None         # as run_experiment was given it
    store: MlflowStore                     # holds MLflow's defaults and working folder for the call
    stray_writes: list[str]                # files written where they should not be
    models: dict[str, LoggedModel] = field(default_factory=dict)
    reseeded: list[str] = field(default_factory=list)   # global generators the call reseeded and left so
    called_ms: tuple[int, int] = (0, 0)   # the call's start and end, in milliseconds since the epoch
    fits: list = field(default_factory=list)   # every estimator fit the call started, as FitStarted
    autolog_left_on: bool = False          # mlflow.sklearn autologging was on after the call
    scores: list = field(default_factory=list)   # every scikit-learn metric the call computed, as ScoreComputed


def _load_models(experiment: Experiment) -> None:
    """Load each run's logged model back (MLflow 3 keeps models apart from runs)."""
    import mlflow
    from mlflow.models import Model

    client = mlflow.MlflowClient(experiment.tracking_uri)
    with isolated(experiment.store):
        mlflow.set_tracking_uri(experiment.tracking_uri)
        for run_id in experiment.run_ids:
            try:
                run = client.get_run(run_id)
            except mlflow.exceptions.MlflowException:
                continue  # not in this store: the tests say so
            logged = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                                 filter_string=f"source_run_id = '{run_id}'")
            if len(logged) != 1:
                continue  # the tests report the missing or extra models
            uri = logged[0].model_uri
            experiment.models[run_id] = LoggedModel(
                run=run, model_uri=uri, name=logged[0].name, artifact_location=logged[0].artifact_location,
                sklearn_model=mlflow.sklearn.load_model(uri),
                pyfunc_model=mlflow.pyfunc.load_model(uri), mlmodel=Model.load(uri))


@contextlib.contextmanager
def _watching_global_reseeds(reseeded: list[str]):
    """Note every `np.random.seed(...)` / `random.seed(...)` call made inside, and whether the caller's
    global state was handed back afterwards (seeding and restoring the state is fine).

    Drawing from the global generators is not noted: an estimator without a random_state may do that.
    """
    import random

    import numpy as np

    calls = []
    numpy_seed, python_seed = np.random.seed, random.seed

    def numpy_reseed(*args, **kwargs):
        calls.append(f"np.random.seed{args!r}")
        return numpy_seed(*args, **kwargs)

    def python_reseed(*args, **kwargs):
        calls.append(f"random.seed{args!r}")
        return python_seed(*args, **kwargs)

    saved_numpy, saved_python = np.random.get_state(), random.getstate()
    np.random.seed, random.seed = numpy_reseed, python_reseed
    try:
        yield
    finally:
        np.random.seed, random.seed = numpy_seed, python_seed
        after_numpy, after_python = np.random.get_state(), random.getstate()
        handed_back = (after_python == saved_python and after_numpy[0] == saved_numpy[0]
                       and np.array_equal(after_numpy[1], saved_numpy[1]) and after_numpy[2:] == saved_numpy[2:])
        if calls and not handed_back:
            reseeded.extend(calls)
        # The state is left as the call left it: handing back the state from before the call would let a
        # refit without random_state draw the very numbers the logged fit drew and hide its randomness.


@dataclass
class FitStarted:
    estimator: str        # the estimator's class name
    module: str           # the module that defines it
    started_ms: int       # when its fit started, in milliseconds since the epoch
    draw: int | None      # the first number its random_state draws (None: no random_state)
    slowed_ms: int = 0    # how much longer the tests made this fit take


def random_state_draw(estimator) -> int | None:
    """The first number an estimator's random_state draws, or None when it has none."""
    import copy

    from sklearn.utils import check_random_state

    state = estimator.get_params(deep=False).get("random_state")
    return None if state is None else int(check_random_state(copy.deepcopy(state)).randint(2**31))


@dataclass
class ScoreComputed:
    metric: str           # the scikit-learn metric function's name (accuracy_score, roc_auc_score, ...)
    y_true: object        # the labels it was given, as a numpy array: which rows it scored
    value: float | None   # what it returned (None: not a single number)


def _score_of(metric, params: dict) -> float | None:
    """What a scikit-learn metric returns for `params`, computed again without validating them a second time."""
    from sklearn import config_context

    try:
        with config_context(skip_parameter_validation=True):
            value = metric(**params)
        return float(value)
    except Exception:   # not a single number (average=None, a report): no score a metric could log as is
        return None


@contextlib.contextmanager
def watching_fits(fits: list, slowed_by: float = 0.0, scores: list | None = None):
    """Note every scikit-learn fit started inside (each `fit` validates its estimator's parameters first;
    so do a Pipeline's steps and a boosting's trees, not the trees a forest grows), optionally making each
    outermost fit take longer; and, given a `scores` list, every scikit-learn metric computed inside (each
    public metric validates its parameters the same way; so does `model.score`, through accuracy_score)."""
    import sys
    import time

    import numpy as np
    from sklearn.base import BaseEstimator, _fit_context
    from sklearn.utils import _param_validation

    validate = BaseEstimator._validate_params
    validate_call = _param_validation.validate_parameter_constraints
    fit_wrapper = _fit_context(prefer_skip_nested_validation=True)(lambda estimator: None).__code__

    def inside_another_fit() -> bool:   # a Pipeline's step, a boosting's tree: its outer fit was slowed
        frame, fits_under_way = sys._getframe(2), 0
        while frame is not None:
            fits_under_way += frame.f_code is fit_wrapper
            frame = frame.f_back
        return fits_under_way > 1

    def noted(self, *args, **kwargs):
        started = int(time.time() * 1000)
        slowed = slowed_by if slowed_by and not inside_another_fit() else 0.0
        fits.append(FitStarted(type(self).__name__, type(self).__module__, started, random_state_draw(self),
                               round(slowed * 1000)))
        if slowed:
            time.sleep(slowed)   # a fit that takes visible time: what it scores comes after it
        return validate(self, *args, **kwargs)

    def noted_call(constraints, params, caller_name):
        validate_call(constraints, params, caller_name)
        metric = sys._getframe(1).f_locals.get("func")   # the metric itself, as its validating wrapper holds it
        if scores is not None and "y_true" in params and callable(metric):
            scores.append(ScoreComputed(caller_name, np.array(params["y_true"]), _score_of(metric, params)))

    BaseEstimator._validate_params = noted
    _param_validation.validate_parameter_constraints = noted_call
    try:
        yield
    finally:
        BaseEstimator._validate_params = validate
        _param_validation.validate_parameter_constraints = validate_call


@pytest.fixture
def fits_started() -> list:
    """Every scikit-learn fit started while the test runs (FitStarted, in order)."""
    fits: list = []
    with watching_fits(fits):
        yield fits


SLOW_FIT_S = 0.3   # each fit of the embedded call (not the fits inside it) takes this much longer


def _run(store: MlflowStore, tracking_uri: str, name: str, artifact_location: str | None,
         slowed_by: float = 0.0) -> Experiment:
    import math
    import time

    import mlflow
    from mlflow.utils.autologging_utils import autologging_is_disabled

    from experiment import run_experiment

    reseeded: list[str] = []
    fits: list[FitStarted] = []
    scores: list[ScoreComputed] = []
    with isolated(store):
        # The caller already chose a tracking URI for its own runs (as a notebook does): the tracking_uri
        # passed in must still win, for the fluent API too.
        mlflow.set_tracking_uri(store.default_uri)
        started = time.time()
        with _watching_global_reseeds(reseeded), watching_fits(fits, slowed_by, scores):
            run_ids = run_experiment(tracking_uri, name, seed=SEED, artifact_location=artifact_location)
        ended = time.time()
        autolog_left_on = not autologging_is_disabled("sklearn")
        if autolog_left_on:   # switched off again for the tests that follow (the test says so)
            mlflow.sklearn.autolog(disable=True)
        stray = store.stray_writes()
    experiment = Experiment(tracking_uri, name, SEED, list(run_ids), artifact_location, store, stray,
                            reseeded=reseeded, called_ms=(math.floor(started * 1000), math.ceil(ended * 1000)),
                            fits=fits, autolog_left_on=autolog_left_on, scores=scores)
    _load_models(experiment)
    return experiment


@pytest.fixture(scope="session")
def embedded_experiment(mlflow_store_factory) -> Experiment:
    """`run_experiment` against a SQLite store, artifacts in a folder of their own."""
    from pathlib import Path

    store = mlflow_store_factory("day02-embedded")
    # Given as a URI (file:///...): an artifact location is passed on exactly as given, never made a path.
    return _run(store, store.tracking_uri, EXPERIMENT, Path(store.artifact_location).as_uri(), slowed_by=SLOW_FIT_S)


@dataclass
class IntoExisting:
    """`run_experiment` called for an experiment that already existed and held a run."""
    experiment_id: str       # the experiment the test created beforehand
    earlier_run_id: str      # the run that was in it before the call
    still_running_run_id: str = ""          # another client's run, still training during the call
    before: dict = field(default_factory=dict)   # the experiment and its runs just before the call
    after: dict = field(default_factory=dict)    # the same, just after the call (runs it made left out)
    experiment: Experiment | None = None   # the call's result (models not loaded), if it returned
    error: str | None = None                # what it raised, if it raised


def _as_it_is(client, experiment_id: str, run_ids) -> dict:
    """What a caller sees of an experiment and of the given runs of it: everything that could change."""
    experiment = client.get_experiment(experiment_id)
    runs = {run_id: client.get_run(run_id) for run_id in run_ids}
    return {
        "experiment": {"name": experiment.name, "artifact_location": experiment.artifact_location,
                       "lifecycle_stage": experiment.lifecycle_stage, "tags": dict(experiment.tags)},
        "runs": {run_id: {"status": run.info.status, "end_time": run.info.end_time,
                          "lifecycle_stage": run.info.lifecycle_stage, "run_name": run.info.run_name,
                          "metrics": dict(run.data.metrics), "params": dict(run.data.params),
                          "tags": dict(run.data.tags)} for run_id, run in runs.items()},
    }


@pytest.fixture(scope="session")
def existing_experiment(mlflow_store_factory) -> IntoExisting:
    """`run_experiment` into an experiment that already exists (default seed, no model loading).

    The store already holds another experiment, and the experiment a finished run on the same
    data, tagged with the same fingerprint and started (by its clock) after the call, and a run
    another client is still training (RUNNING) during the call.
    """
    import time

    import mlflow
    from experiment import fingerprint, make_dataset, run_experiment

    store = mlflow_store_factory("day02-existing")
    with isolated(store):
        client = mlflow.MlflowClient(store.tracking_uri)
        # Another team's experiment came first, so this store numbers experiments unlike the others.
        client.create_experiment(f"{EXPERIMENT}-other-team", artifact_location=store.artifact_location)
        experiment_id = client.create_experiment(EXISTING_EXPERIMENT, artifact_location=store.artifact_location)
        # A run on the same data (same fingerprint) from another client whose clock runs an hour
        # ahead: by start time it looks like the newest run of the experiment.
        earlier = client.create_run(experiment_id, run_name="earlier-run",
                                    start_time=int(time.time() * 1000) + 3_600_000,
                                    tags={"dataset_fingerprint": fingerprint(*make_dataset(EXISTING_SEED))})
        client.log_metric(earlier.info.run_id, "roc_auc", 0.5)
        client.set_terminated(earlier.info.run_id)
        # A colleague's training is still under way in the same experiment: its run stays RUNNING.
        training = client.create_run(experiment_id, run_name="colleague-still-training")
        client.log_metric(training.info.run_id, "roc_auc", 0.6)
        result = IntoExisting(experiment_id, earlier.info.run_id, training.info.run_id)
        result.before = _as_it_is(client, experiment_id, [earlier.info.run_id, training.info.run_id])
        try:
            run_ids = run_experiment(store.tracking_uri, EXISTING_EXPERIMENT,  # seed left at its default, 0
                                     artifact_location=store.artifact_location)
        except NotImplementedError:
            raise  # a stub: the harness turns it into the task line
        except Exception as exc:  # reported by the test, in words
            result.error = f"{type(exc).__name__}: {exc}"
            return result
        result.experiment = Experiment(store.tracking_uri, EXISTING_EXPERIMENT, EXISTING_SEED, list(run_ids),
                                       store.artifact_location, store, store.stray_writes())
        result.after = _as_it_is(client, experiment_id, [earlier.info.run_id, training.info.run_id])
    return result


@pytest.fixture(scope="session")
def served_experiment(mlflow_store_factory, mlflow_server) -> Experiment:
    """`run_experiment` against the tracking server; artifacts go through its proxy."""
    import uuid

    store = mlflow_store_factory("day02-served")
    return _run(store, mlflow_server.url, f"{EXPERIMENT}-{uuid.uuid4().hex[:8]}", None)
