"""Task 2: one MLflow run per model, with metrics that are true and a model that loads.

The fixtures (conftest.py) call your `run_experiment` once against an embedded SQLite
store and once against a real `mlflow server`, then load every logged model back.
The tests recompute each metric from the logged model on the held-out data: a
made-up number, or one computed on the training rows, does not match.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from experiment import fingerprint, make_dataset, run_experiment

pytestmark = [pytest.mark.task(taskno=2), pytest.mark.mlflow, pytest.mark.timeout(240)]

METRICS = ("accuracy", "f1", "roc_auc")


def _estimator(model):
    """The classifier itself, also when it sits at the end of a Pipeline."""
    return model.steps[-1][1] if hasattr(model, "steps") else model


def _scores(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def _recomputed(model, X_test, y_test) -> dict[str, float]:
    predicted = model.predict(X_test)
    return {
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted),
        "roc_auc": roc_auc_score(y_test, _scores(model, X_test)),
    }


def _check_one_model_per_run(experiment):
    assert len(experiment.run_ids) >= 3, f"run_experiment should return at least 3 run ids, got {experiment.run_ids!r}"
    assert len(set(experiment.run_ids)) == len(experiment.run_ids), "each model should get a run of its own"
    missing = [run_id for run_id in experiment.run_ids if run_id not in experiment.models]
    assert not missing, (f"runs {missing} are not in the store at tracking_uri, or have no model or more than "
                         "one: log to that store, exactly one model per run, with "
                         "mlflow.sklearn.log_model(model, name='model', ...)")


def _check_metrics(experiment):
    _check_one_model_per_run(experiment)
    _, X_test, _, y_test = make_dataset(experiment.seed)
    for run_id, logged in experiment.models.items():
        metrics = logged.run.data.metrics
        expected = _recomputed(logged.sklearn_model, X_test, y_test)
        for name in METRICS:
            assert name in metrics, f"run {run_id} should log the metric {name!r}; it logged {sorted(metrics)}"
            assert metrics[name] == pytest.approx(expected[name], abs=1e-9), (
                f"run {run_id} logged {name}={metrics[name]:.4f}, but its model scores {expected[name]:.4f} "
                f"on the held-out data (make_dataset({experiment.seed})): log what the model really scores on X_test")


def _as_signature_input(logged, X):
    """The rows in the form the model's signature describes: named columns, or a plain array."""
    signature = logged.mlmodel.signature
    if signature is not None and signature.inputs.has_input_names():
        import pandas as pd

        return pd.DataFrame(X, columns=signature.inputs.input_names())
    return X


def _check_pyfunc(experiment):
    _check_one_model_per_run(experiment)
    _, X_test, _, _ = make_dataset(experiment.seed)
    for run_id, logged in experiment.models.items():
        through_pyfunc = np.asarray(logged.pyfunc_model.predict(_as_signature_input(logged, X_test))).ravel()
        assert np.array_equal(through_pyfunc, logged.sklearn_model.predict(X_test)), (
            f"the model of run {run_id}, loaded with mlflow.pyfunc, should predict what the classifier predicts")


def test_returns_one_finished_run_per_model_in_the_named_experiment(embedded_experiment):
    import mlflow

    _check_one_model_per_run(embedded_experiment)
    client = mlflow.MlflowClient(embedded_experiment.tracking_uri)
    experiment = client.get_experiment_by_name(embedded_experiment.name)
    assert experiment is not None, f"there should be an experiment named {embedded_experiment.name!r} in the store"
    for run_id in embedded_experiment.run_ids:
        found = client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_id = '{run_id}'")
        assert found, (f"run {run_id} is not in the experiment {embedded_experiment.name!r} of the store at "
                       "tracking_uri: log to the store you are given, not MLflow's default")
        run = found[0]
        assert run.info.experiment_id == experiment.experiment_id, (
            f"run {run_id} should belong to the experiment {embedded_experiment.name!r}")
        assert run.info.status == "FINISHED", f"run {run_id} should be finished (end each run), not {run.info.status}"


def test_every_run_the_call_made_is_returned_and_holds_a_model(embedded_experiment):
    import mlflow

    _check_one_model_per_run(embedded_experiment)
    client = mlflow.MlflowClient(embedded_experiment.tracking_uri)
    experiment = client.get_experiment_by_name(embedded_experiment.name)
    made = {run.info.run_id: run.info.run_name for run in client.search_runs([experiment.experiment_id])}
    left_behind = {run_id: name for run_id, name in made.items() if run_id not in embedded_experiment.run_ids}
    assert not left_behind, (
        f"run_experiment made runs {left_behind} in the (new) experiment but did not return their ids: "
        "return one id for every run you make (two models of one class need two ids), and never skip a "
        "model that fails to save and leave its run behind without a model: let the error propagate")


def test_compares_at_least_three_different_classifiers(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    kinds = {type(_estimator(m.sklearn_model)).__name__ for m in embedded_experiment.models.values()}
    assert len(kinds) >= 3, f"train at least three different kinds of classifier; the logged models are {sorted(kinds)}"


def test_logged_metrics_equal_metrics_recomputed_on_held_out_data(embedded_experiment):
    _check_metrics(embedded_experiment)


def test_logged_models_were_fitted_on_the_training_rows_only(embedded_experiment):
    from sklearn.base import clone

    _check_one_model_per_run(embedded_experiment)
    X_train, X_test, y_train, _ = make_dataset(embedded_experiment.seed)
    for run_id, logged in embedded_experiment.models.items():
        model = logged.sklearn_model
        refit = clone(model).fit(X_train, y_train)
        same = (np.array_equal(refit.predict(X_test), model.predict(X_test))
                and np.allclose(_scores(refit, X_test), _scores(model, X_test), rtol=0, atol=1e-6))
        assert same, (
            f"the model of run {run_id} ({type(_estimator(model)).__name__}) scores the test rows differently "
            f"from a fresh copy with the same hyperparameters fitted on X_train, y_train of "
            f"make_dataset({embedded_experiment.seed}): fit on the training rows only (never on the test rows), "
            "and fix random_state wherever an estimator has one")


# Estimators whose fit draws random numbers on every call (scikit-learn's docs say so): a tree
# permutes the features at each split, a forest or bagging ensemble also draws bootstrap samples.
# Histogram gradient boosting draws its binning sample and early-stopping split at random on larger
# data: on this small data set its fit happens to be deterministic, so only its random_state shows it.
RANDOM_FIT_MODULES = ("sklearn.tree", "sklearn.ensemble._forest", "sklearn.ensemble._bagging",
                      "sklearn.ensemble._gb", "sklearn.ensemble._weight_boosting",
                      "sklearn.ensemble._hist_gradient_boosting",
                      # Stochastic gradient descent and its relatives shuffle the rows every epoch; a neural
                      # network draws its initial weights (and shuffles its batches).
                      "sklearn.linear_model._stochastic_gradient", "sklearn.linear_model._perceptron",
                      "sklearn.linear_model._passive_aggressive", "sklearn.neural_network",
                      # Random features: an RBFSampler or Nystroem draws its frequencies or basis rows, a random
                      # projection its matrix.
                      "sklearn.kernel_approximation", "sklearn.random_projection")


def _fit_is_random(step) -> bool:
    """Whether the estimator's fit draws random numbers with the settings it has (scikit-learn's docs say so):
    trees, ensembles, SGD, an MLP; an SVC with probability=True (its calibration's folds); a logistic regression
    or ridge with the sag, saga or liblinear solver; a LinearSVC solving the dual (coordinate descent in random
    order); a randomized PCA or SVD (a PCA or KernelPCA with the randomized or arpack solver, or PCA's "auto",
    which may pick randomized; a TruncatedSVD), a FastICA, an NMF with a random init; random features (RBFSampler,
    Nystroem) and random projections. An lbfgs logistic regression or an SVC without probabilities fits the same
    model every time."""
    params = step.get_params(deep=False)
    if "random_state" not in params:
        return False
    name = type(step).__name__
    return (type(step).__module__.startswith(RANDOM_FIT_MODULES)
            or (name == "PCA" and params.get("svd_solver") in ("auto", "randomized", "arpack"))
            or (name == "KernelPCA" and (params.get("eigen_solver") in ("randomized", "arpack")
                                         or (params.get("eigen_solver") == "auto"
                                             and params.get("n_components") is not None)))
            or name in ("TruncatedSVD", "FastICA")
            or (name in ("NMF", "MiniBatchNMF") and params.get("init") in ("random", "nndsvdar"))
            or (name in ("SVC", "NuSVC") and params.get("probability") is True)
            or (name.startswith(("LogisticRegression", "Ridge")) and params.get("solver") in ("sag", "saga", "liblinear"))
            or (name in ("LinearSVC", "LinearSVR") and params.get("dual") is True))


def _steps(model):
    """The estimator and every estimator inside it (a Pipeline's steps, a VotingClassifier's members, ...).

    The template `estimator` of a seeded bagging or boosting ensemble is left out: the ensemble seeds
    every copy of it that it fits.
    """
    params = model.get_params(deep=True)
    found = [step for _, step in model.steps if hasattr(step, "get_params")] if hasattr(model, "steps") else [model]
    for key, value in params.items():
        if not hasattr(value, "get_params") or isinstance(value, type) or any(value is step for step in found):
            continue
        owner_key, _, name = key.rpartition("__")
        owner = params[owner_key] if owner_key else model
        if name in ("estimator", "base_estimator") and type(owner).__module__.startswith(RANDOM_FIT_MODULES):
            continue
        found.append(value)
    return found


def test_run_experiment_does_not_reseed_the_callers_global_random_state(embedded_experiment):
    assert not embedded_experiment.reseeded, (
        f"run_experiment called {', '.join(embedded_experiment.reseeded)} and left the caller's global random "
        "state reseeded: that resets the random numbers of the whole program that called it (a notebook's "
        "next np.random draw repeats); seed the estimators (random_state=seed) and the data generator "
        "instead, never the global np.random or random")


def test_tree_and_ensemble_models_have_a_fixed_random_state(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        for step in _steps(logged.sklearn_model):
            if _fit_is_random(step):
                assert step.get_params().get("random_state") is not None, (
                    f"the {type(step).__name__} of run {run_id} has random_state=None: its fit draws random "
                    "numbers (a tree shuffles the features at every split, a forest draws bootstrap samples, SGD "
                    "shuffles the rows every epoch, a randomized PCA draws its projection), so another fit can give "
                    "another model even when this data "
                    "hides it; pass random_state=seed (also to an estimator inside a Pipeline or a "
                    "VotingClassifier)")


def test_each_model_is_logged_under_the_name_model(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        assert logged.name == "model", (
            f"the model of run {run_id} is logged under the name {logged.name!r}: log it with "
            "mlflow.sklearn.log_model(model, name='model', ...), so runs:/<run id>/model finds it in every run")


def test_models_are_not_saved_as_pickles(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        saved_as = logged.mlmodel.flavors.get("sklearn", {}).get("serialization_format")
        assert saved_as not in ("pickle", "cloudpickle"), (
            f"the model of run {run_id} is saved as {saved_as}: loading a pickle runs whatever code it holds; "
            "keep MLflow's default skops format (skops_trusted_types=[...] for the types you trained)")


def test_logged_params_are_the_models_real_hyperparameters(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        params = logged.run.data.params
        hyper = {key: str(value) for key, value in logged.sklearn_model.get_params().items()}
        known = {key: value for key, value in params.items() if key in hyper}
        assert known, (f"run {run_id} should log the model's hyperparameters (names from get_params()); "
                       f"it logged {sorted(params)}")
        wrong = {key: (value, hyper[key]) for key, value in known.items() if value != hyper[key]}
        assert not wrong, f"run {run_id} logged parameters its model does not have (logged, real): {wrong}"
        plain = {key for key, value in logged.sklearn_model.get_params().items()
                 if value is None or isinstance(value, (bool, int, float, str))}
        missing = sorted(plain - set(params))
        assert not missing, (f"run {run_id} should log every hyperparameter of get_params(), defaults included "
                             f"(they are what the model really used); missing: {missing}")


def test_runs_are_tagged_with_the_dataset_fingerprint(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    seed = embedded_experiment.seed
    expected = fingerprint(*make_dataset(seed))
    for run_id, logged in embedded_experiment.models.items():
        tags = logged.run.data.tags
        assert tags.get("dataset_fingerprint") == expected, (
            f"run {run_id} should carry the tag dataset_fingerprint = fingerprint(*make_dataset({seed})); "
            f"it has {tags.get('dataset_fingerprint')!r}")


def _metric_stamps(experiment):
    """Every logged value of every metric, with the run it was logged in: (run info, metric name, logged value)."""
    import mlflow

    client = mlflow.MlflowClient(experiment.tracking_uri)
    for run_id in experiment.run_ids:
        info = client.get_run(run_id).info
        for name in METRICS:
            for logged in client.get_metric_history(run_id, name):
                yield info, name, logged


def test_metrics_are_logged_at_the_time_they_were_computed(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    started, ended = embedded_experiment.called_ms
    for info, name, logged in _metric_stamps(embedded_experiment):
        assert started - 1000 <= logged.timestamp <= ended + 1000, (
            f"run {info.run_id} logged {name} at timestamp {logged.timestamp} (milliseconds since 1970), but "
            f"run_experiment ran from {started} to {ended}: log metrics at MLflow's own timestamp (the "
            "default), or the current time in milliseconds, never a made-up one such as 0")


def test_each_metric_is_stamped_inside_its_own_run(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for info, name, logged in _metric_stamps(embedded_experiment):
        # The store keeps milliseconds: one of slack for a stamp rounded the other way.
        assert info.start_time - 1 <= logged.timestamp <= (info.end_time or logged.timestamp) + 1, (
            f"run {info.run_id} logged {name} at timestamp {logged.timestamp} (milliseconds since 1970), but the "
            f"run itself went from {info.start_time} to {info.end_time}: stamp each metric when its run "
            "computes it (MLflow's default, or the current time then), never one time taken once for every run")


def test_metrics_are_stamped_after_the_fit_they_score(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for info, name, logged in _metric_stamps(embedded_experiment):
        # The tests made each fit take longer (slowed_ms): it ends no earlier than started_ms + slowed_ms.
        inside = [fit for fit in embedded_experiment.fits
                  if info.start_time <= fit.started_ms <= (info.end_time or fit.started_ms)]
        if not inside:
            continue   # the models were fitted before this run started: any stamp inside the run comes after
        last = max(inside, key=lambda fit: fit.started_ms + fit.slowed_ms)
        done = last.started_ms + last.slowed_ms
        assert logged.timestamp >= done, (
            f"run {info.run_id} logged {name} at timestamp {logged.timestamp}, but its {last.estimator}'s fit "
            f"started at {last.started_ms} and took at least {last.slowed_ms} ms (until {done} or later): "
            "the score cannot have been "
            "computed before the fit ended; take the metric's timestamp when the run's metrics are computed "
            "(MLflow's default, or the current time then), never when the run starts")


def test_no_metric_is_computed_on_the_training_rows_and_autologging_is_left_off(embedded_experiment):
    assert not embedded_experiment.autolog_left_on, (
        "after run_experiment returned, mlflow.sklearn autologging was on in the caller's process: every fit "
        "the caller makes afterwards logs a run (and writes ./mlruns wherever it runs); leave MLflow's "
        "autologging as you found it (no mlflow.autolog() or mlflow.sklearn.autolog())")
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        on_training = sorted(name for name in logged.run.data.metrics if name.startswith("training_"))
        assert not on_training, (
            f"run {run_id} logged the metrics {on_training}, scores on the training rows (autologging logs "
            "them): log only metrics computed on the held-out test rows")


def _common_scores(model, X, y) -> dict[str, float]:
    """Every common score of `model` on the rows `X, y`: the three held-out metrics, and the others a run might
    log "to see overfitting" (probability scores only for a model with predict_proba)."""
    from sklearn.metrics import (average_precision_score, balanced_accuracy_score, brier_score_loss,
                                 cohen_kappa_score, fbeta_score, hinge_loss, jaccard_score, log_loss,
                                 matthews_corrcoef, precision_score, recall_score)

    predicted = model.predict(X)
    scores = {**_recomputed(model, X, y),
              "error rate": 1 - accuracy_score(y, predicted),
              "precision": precision_score(y, predicted, zero_division=0),
              "recall": recall_score(y, predicted),
              "specificity": recall_score(y, predicted, pos_label=0),
              "balanced accuracy": balanced_accuracy_score(y, predicted),
              "Matthews correlation": matthews_corrcoef(y, predicted),
              "average precision": average_precision_score(y, _scores(model, X)),
              "Jaccard index": jaccard_score(y, predicted),
              "Cohen's kappa": cohen_kappa_score(y, predicted),
              "F2": fbeta_score(y, predicted, beta=2),
              "macro f1": f1_score(y, predicted, average="macro"),
              "weighted f1": f1_score(y, predicted, average="weighted"),
              "model.score": model.score(X, y)}
    if hasattr(model, "decision_function"):
        scores["hinge loss"] = hinge_loss(y, model.decision_function(X))
    if hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(X)
        scores.update({"log loss": log_loss(y, probabilities), "Brier score": brier_score_loss(y, probabilities[:, 1])})
    return {name: float(value) for name, value in scores.items()}


def _either_sign(scores: dict[str, float]) -> dict[str, float]:
    """The scores, and each negated as scikit-learn's scorers report a loss (neg_log_loss, neg_brier_score)."""
    return {**scores, **{f"negated {name}": -value for name, value in scores.items() if value != 0}}


def _out_of_bag_scores(model) -> dict[str, float]:
    """The out-of-bag score of a forest or bagging ensemble fitted with oob_score=True (also inside a Pipeline):
    scored on the training rows each tree did not draw, so a training-row metric too."""
    estimator = _estimator(model)
    return {"out-of-bag score": float(estimator.oob_score_)} if hasattr(estimator, "oob_score_") else {}


def test_no_logged_metric_is_a_score_on_the_training_rows(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    X_train, X_test, y_train, y_test = make_dataset(embedded_experiment.seed)
    for run_id, logged in embedded_experiment.models.items():
        on_training = _either_sign({**_common_scores(logged.sklearn_model, X_train, y_train),
                                    **_out_of_bag_scores(logged.sklearn_model)})
        held_out = _either_sign(_common_scores(logged.sklearn_model, X_test, y_test))
        for key, value in logged.run.data.metrics.items():
            if any(value == pytest.approx(score, abs=1e-9) for score in held_out.values()):
                continue   # a score on the held-out rows (the three metrics, or any other the run adds)
            for name, score in on_training.items():
                on_test = f"on the test rows it is {held_out[name]}" if name in held_out else "no test-row score"
                assert value != pytest.approx(score, abs=1e-9), (
                    f"run {run_id} logged the metric {key}={value}, which is the model's {name} on the training "
                    f"rows ({score}; {on_test}): log no metric computed on the training rows, under any name "
                    "and of any kind (a forest's oob_score_ is scored on training rows too)")


def _one_of(value: float, scores) -> bool:
    """Whether `value` is one of `scores`, to rounding error."""
    return any(value == pytest.approx(score, abs=1e-9) for score in scores)


def test_no_logged_metric_is_a_score_the_call_computed_on_other_rows_than_the_test_rows(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    _, X_test, _, y_test = make_dataset(embedded_experiment.seed)
    computed = embedded_experiment.scores   # every scikit-learn metric run_experiment computed, and on which labels
    on_test_rows = [score.value for score in computed if score.value is not None and np.array_equal(score.y_true, y_test)]
    on_other_rows = [score for score in computed if score.value is not None and not np.array_equal(score.y_true, y_test)]
    for run_id, logged in embedded_experiment.models.items():
        held_out = [*on_test_rows, *_either_sign(_common_scores(logged.sklearn_model, X_test, y_test)).values()]
        for key, value in logged.run.data.metrics.items():
            if _one_of(value, held_out):
                continue   # a score on the held-out rows (the three metrics, or any other the run adds)
            for score in on_other_rows:
                assert not _one_of(value, [score.value, -score.value]), (
                    f"run {run_id} logged the metric {key}={value}, which is the {score.metric} run_experiment "
                    f"computed on {len(score.y_true)} rows that are not the {len(y_test)} test rows (training "
                    "rows, or a slice of them set aside \"for validation\"), and no score it computed on the test "
                    "rows: log no metric computed on the training rows, under any name, of any kind and on any "
                    "part of them; the model was fitted on every training row, so none of them is held out")


def _gaps_and_ratios(train: float, test: float) -> dict[str, float]:
    """The values a run might work out from a score on the training rows and the same score on the test rows
    "to see overfitting": the gap either way round and the ratio either way round (none when the two agree)."""
    if train == pytest.approx(test, rel=1e-9, abs=1e-12):
        return {}   # the gap is 0 and the ratio 1: nothing a held-out-only metric could not be too
    derived = {"training minus test": train - test, "test minus training": test - train}
    if test != 0:
        derived["training divided by test"] = train / test
    if train != 0:
        derived["test divided by training"] = test / train
    return derived


def test_no_logged_metric_is_a_gap_or_ratio_of_a_training_and_a_test_score(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    X_train, X_test, y_train, y_test = make_dataset(embedded_experiment.seed)
    for run_id, logged in embedded_experiment.models.items():
        on_training = _common_scores(logged.sklearn_model, X_train, y_train)
        held_out = _common_scores(logged.sklearn_model, X_test, y_test)
        for key, value in logged.run.data.metrics.items():
            if any(value == pytest.approx(score, rel=1e-9, abs=1e-12) for score in held_out.values()):
                continue   # a score on the held-out rows (the three metrics, or any other the run adds)
            for name, train in on_training.items():
                for how, derived in _gaps_and_ratios(train, held_out[name]).items():
                    assert value != pytest.approx(derived, rel=1e-9, abs=1e-12), (
                        f"run {run_id} logged the metric {key}={value}, which is the model's {name} on the training "
                        f"rows ({train}) and on the test rows ({held_out[name]}) combined ({how}): a metric worked "
                        "out from a training-row score (a gap or ratio \"to see overfitting\") is a training metric "
                        "too; log only metrics measured on the held-out test rows")


def _in_a_fresh_python(script: str, tmp_path: Path, *args: str, env: dict, where: str):
    """Run `script` with the learner's folder and `args` as argv in a new interpreter, whose MLflow and hash
    seed this session has not touched, and return the JSON of its last printed line."""
    import inspect

    folder = Path(inspect.getfile(run_experiment)).resolve().parent
    done = subprocess.run([sys.executable, "-c", script, str(folder), *args], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"run_experiment failed in {where}:\n{done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


AUTOLOG_ON_IN_ANOTHER_PROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import mlflow
from mlflow.utils.autologging_utils import autologging_is_disabled, get_autologging_config
caller_uri, uri = sys.argv[2], sys.argv[3]
mlflow.set_tracking_uri(caller_uri)
# The caller's notebook has it on, with settings of its own (none of them MLflow's defaults).
CALLERS_SETTINGS = {"log_models": False, "log_datasets": False, "silent": True, "log_input_examples": True,
                    "log_post_training_metrics": False, "max_tuning_runs": 3}
mlflow.sklearn.autolog(**CALLERS_SETTINGS)
from experiment import run_experiment
run_experiment(uri, "day02-autolog-on", seed=1, artifact_location=sys.argv[4])
on_training = []
for store in (caller_uri, uri):
    client = mlflow.MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(experiments, run_view_type=mlflow.entities.ViewType.ALL, max_results=1000):
        on_training += [f"{run.info.run_id}: {name}" for name in run.data.metrics if name.startswith("training_")]
settings = {key: get_autologging_config("sklearn", key) for key in CALLERS_SETTINGS}
print(json.dumps({"still_on": not autologging_is_disabled("sklearn"), "on_training": sorted(on_training),
                  "settings": settings, "callers_settings": CALLERS_SETTINGS}))
"""


def test_the_callers_autologging_stays_on_and_logs_nothing_during_the_call(embedded_experiment, tmp_path):
    _check_one_model_per_run(embedded_experiment)   # in this process first: an unfinished task says so here
    caller_uri = f"sqlite:///{tmp_path / 'caller.db'}"   # a fresh Python: this session's autologging is untouched
    seen = _in_a_fresh_python(AUTOLOG_ON_IN_ANOTHER_PROCESS, tmp_path, caller_uri,
                              f"sqlite:///{tmp_path / 'tracking.db'}", str(tmp_path / "artifacts"),
                              env={"MLFLOW_TRACKING_URI": caller_uri},
                              where="a Python process whose caller had mlflow.sklearn.autolog() on")
    assert seen["still_on"], (
        "the caller had mlflow.sklearn.autolog() on before run_experiment and found it off afterwards: leave "
        "MLflow's autologging as you found it (never mlflow.sklearn.autolog(disable=True) for good)")
    changed = {key: f"{value} before, {seen['settings'][key]} after" for key, value in seen["callers_settings"].items()
               if seen["settings"][key] != value}
    assert not changed, (
        f"the caller had mlflow.sklearn.autolog() on with settings of its own, and after run_experiment those "
        f"settings had changed ({changed}): leave MLflow's autologging as you found it, settings included; "
        "switching it back on with mlflow.sklearn.autolog() and MLflow's defaults makes every later fit of the "
        "caller log models and datasets it had turned off (disable_autologging() restores it as it was)")
    assert not seen["on_training"], (
        f"with the caller's autologging on, the call's fits logged scores on the training rows ({seen['on_training'][:5]}):"
        " keep a caller's autologging out of your runs while you train (it is restored afterwards), "
        "e.g. with mlflow.utils.autologging_utils.disable_autologging()")


def _fitted_parts(model) -> Counter:
    """How many estimators of each class a fitted model holds, by class name: itself, its steps and members
    (given and fitted: a forest's or a boosting's trees, a VotingClassifier's fitted copies). Each is fitted
    at most once."""
    from sklearn.base import BaseEstimator

    seen, counts, todo = set(), Counter(), [model]
    while todo:
        part = todo.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        counts[type(part).__name__] += 1
        inner = list(part.get_params(deep=False).values()) + [
            value for key, value in vars(part).items() if key.endswith("_")]
        for value in inner:
            if isinstance(value, dict):
                value = list(value.values())
            elif isinstance(value, np.ndarray) and value.dtype == object:   # a gradient boosting's trees
                value = list(value.ravel())
            for item in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(item, tuple) and len(item) >= 2:   # a (name, estimator) pair of a Pipeline
                    item = item[1]
                if isinstance(item, BaseEstimator):
                    todo.append(item)
    return counts


def test_each_model_is_fitted_once_on_the_training_rows(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    fitted = Counter(fit.estimator for fit in embedded_experiment.fits)
    held = Counter()
    for logged in embedded_experiment.models.values():
        held.update(_fitted_parts(logged.sklearn_model))
    extra = {name: f"fitted {count} times, logged {held.get(name, 0)}" for name, count in fitted.items()
             if count > held.get(name, 0)}
    assert not extra, (
        f"run_experiment fitted more estimators than its runs logged ({extra}): each model is fitted once, on "
        "the training rows; choosing a hyperparameter or a model by its score on the test rows makes the "
        "logged score an optimistic one (the test rows are no longer held out), and the kata fixes the models: "
        "no search at all")
    for run_id, logged in embedded_experiment.models.items():
        searches = [type(step).__name__ for step in _steps(logged.sklearn_model) if _searches(step)]
        assert not searches, (
            f"run {run_id}'s model holds {', '.join(searches)}, which fits its estimator over a grid of "
            "hyperparameters and keeps the one that cross-validates best: a search inside one fit is a search "
            "too, and the kata fixes the models (use LogisticRegression with a fixed C, not LogisticRegressionCV)")


def _searches(step) -> bool:
    """Whether an estimator picks its own hyperparameters by cross-validation when fitted: a search
    (GridSearchCV) or a ...CV estimator (LogisticRegressionCV, RidgeClassifierCV); calibration's
    CalibratedClassifierCV tunes no hyperparameter."""
    name = type(step).__name__
    return (name.endswith("CV") and name != "CalibratedClassifierCV") or hasattr(step, "cv_results_")


def test_models_carry_a_signature_matching_the_features(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    width = make_dataset(embedded_experiment.seed)[0].shape[1]
    for run_id, logged in embedded_experiment.models.items():
        signature = logged.mlmodel.signature
        assert signature is not None, (f"the model of run {run_id} has no signature: pass "
                                       "signature=infer_signature(X, predictions) to log_model")
        shape = signature.inputs.to_dict()[0].get("tensor-spec", {}).get("shape")
        columns = len(signature.inputs.inputs) if shape is None else shape[-1]
        assert columns == width, f"the signature of run {run_id}'s model should describe {width} features, not {columns}"


def _outputs_per_row(signature) -> tuple[int, list[str]]:
    """How many values per row the signature's outputs promise, and their types."""
    per_row, kinds = 0, []
    for spec in signature.outputs.to_dict():
        tensor = spec.get("tensor-spec")
        if tensor is None:   # a named or unnamed column: one value per row
            per_row, kinds = per_row + 1, kinds + [spec["type"]]
            continue
        per_row += int(np.prod([abs(size) for size in tensor["shape"][1:]], dtype=int))
        kinds.append(np.dtype(tensor["dtype"]).name)
    return per_row, kinds


def test_signature_outputs_describe_the_predicted_labels(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        signature = logged.mlmodel.signature
        if signature is None or signature.outputs is None:
            continue   # no output schema promised (test_models_carry_a_signature_matching_the_features)
        per_row, kinds = _outputs_per_row(signature)
        labels = all(kind in ("integer", "long") or kind.startswith(("int", "uint")) for kind in kinds)
        assert per_row == 1 and labels, (
            f"the signature of run {run_id}'s model promises {per_row} value(s) per row of type {kinds}, but the "
            "model's predict (and so every serving request) returns one integer label per row: infer the "
            "outputs from model.predict(X_train), not from predict_proba's float scores")


def test_models_carry_an_input_example(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        assert logged.mlmodel.saved_input_example_info, (
            f"the model of run {run_id} has no input example: pass input_example=X_train[:3] to log_model")


def test_input_examples_are_requests_the_model_answers(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    width = make_dataset(embedded_experiment.seed)[0].shape[1]
    for run_id, logged in embedded_experiment.models.items():
        example = logged.pyfunc_model.input_example
        assert example is not None, f"the model of run {run_id} has no input example"
        shape = np.shape(example)
        assert len(shape) == 2 and shape[1] == width, (
            f"the input example of run {run_id}'s model has the shape {shape}: it should be a few rows of "
            f"{width} features (X_train[:3], say), a batch in the form the signature describes, not a single "
            "1-D row or other columns")
        try:
            answered = np.asarray(logged.pyfunc_model.predict(example)).ravel()
        except Exception as exc:   # the example does not fit the model's own signature
            pytest.fail(f"the model of run {run_id}, loaded with mlflow.pyfunc, cannot predict its own input "
                        f"example ({type(exc).__name__}): the example should be a valid request")
        assert len(answered) == shape[0], (
            f"the model of run {run_id} answers its {shape[0]}-row input example with {len(answered)} "
            "predictions: the example should be rows of the training inputs, one prediction per row")


def test_input_examples_are_a_few_rows_not_the_training_set(embedded_experiment):
    _check_one_model_per_run(embedded_experiment)
    for run_id, logged in embedded_experiment.models.items():
        example = logged.pyfunc_model.input_example
        rows = 0 if example is None else len(example)
        assert rows <= 10, (
            f"the input example of run {run_id}'s model holds {rows} rows: it is stored with the model for "
            "everyone who can load it to read, so it should be a few rows (at most 10, X_train[:3] say), "
            "never the whole training set")


def _input_examples(experiment) -> list[tuple]:
    """The input examples of an experiment's models, each as (shape, values), in a fixed order."""
    _check_one_model_per_run(experiment)
    examples = (np.asarray(logged.pyfunc_model.input_example) for logged in experiment.models.values())
    return sorted((np.shape(example), np.asarray(example, dtype=np.float64).tobytes()) for example in examples)


def test_the_same_seed_gives_the_same_input_examples(embedded_experiment, served_experiment):
    here, there = _input_examples(embedded_experiment), _input_examples(served_experiment)
    assert here == there, (
        f"two calls with the same seed ({embedded_experiment.seed}) stored different input examples (shapes: "
        f"{[shape for shape, _ in here]} and {[shape for shape, _ in there]}, or other rows): a run is reproducible "
        "only if the same seed gives the same run; take fixed rows (X_train[:3]) or draw them with a generator "
        "seeded with `seed`, never from the caller's global generator (np.random.choice)")


def test_models_load_with_pyfunc_and_predict_like_the_classifier(embedded_experiment):
    _check_pyfunc(embedded_experiment)


def _outcome(tracking_uri, name, **options):
    """`run_experiment`'s (returned, raised), for the tests where raising is the right answer; the stub's
    NotImplementedError still reports the task as not done yet."""
    try:
        return run_experiment(tracking_uri, name, **options), None
    except NotImplementedError:
        raise
    except Exception as exc:
        return None, exc


UNWRITABLE = "day02-unwritable-artifacts"


def _run_into_an_unwritable_location(mlflow_store):
    """`run_experiment` with a file standing where its artifact location should be: (returned, raised)."""
    blocker = mlflow_store.root / "a-file-not-a-folder"
    blocker.write_text("artifacts cannot be written under a file\n", encoding="utf-8")
    return blocker, *_outcome(mlflow_store.tracking_uri, UNWRITABLE, artifact_location=str(blocker / "artifacts"))


def test_a_model_that_cannot_be_saved_is_an_error_not_a_run_without_a_model(mlflow_store):
    blocker, made, error = _run_into_an_unwritable_location(mlflow_store)
    assert error is not None, (
        f"no model can be written to the artifact_location {blocker / 'artifacts'} (a file stands in its path), "
        f"yet run_experiment returned {made!r} instead of raising: a model that fails to save is an error that "
        "propagates, never a run returned with metrics and no model")


def test_a_plain_folder_path_is_passed_on_as_given(mlflow_store):
    import mlflow

    try:   # the location cannot be written to: the call raises once the experiment is made (the tests above say so)
        blocker, _, _ = _run_into_an_unwritable_location(mlflow_store)
    finally:
        while mlflow.active_run() is not None:   # a run left open would spoil the next tests (the tests above say so)
            mlflow.end_run()
    given = str(blocker / "artifacts")
    experiment = mlflow.MlflowClient(mlflow_store.tracking_uri).get_experiment_by_name(UNWRITABLE)
    stored = None if experiment is None else experiment.artifact_location
    assert stored == given, (
        f"run_experiment was given the artifact_location {given!r} (a plain folder path) and created the experiment "
        f"with {stored!r}: pass the location on exactly as given, never made a file:// URI or a path of your own")


def test_a_call_that_raised_leaves_no_run_open_and_its_run_failed(mlflow_store):
    import mlflow

    _, made, error = _run_into_an_unwritable_location(mlflow_store)
    assert error is not None, f"run_experiment should raise when no model can be saved; it returned {made!r}"
    active = mlflow.active_run()
    assert active is None, (
        f"after run_experiment raised, run {active.info.run_id} is still the active run of this process: the "
        "next call would fail with 'run already active'; end the run on failure (a `with mlflow.start_run(...)` "
        "block does) or delete it")
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment = client.get_experiment_by_name(UNWRITABLE)
    left = [] if experiment is None else client.search_runs([experiment.experiment_id])
    running = [run.info.run_id for run in left if run.info.status == "RUNNING"]
    assert not running, (
        f"after run_experiment raised, runs {running} are left RUNNING in the store forever: end a run whose "
        "model failed to save as FAILED, or delete it")
    finished = [run.info.run_id for run in left if run.info.status == "FINISHED"]
    assert not finished, (
        f"after run_experiment raised, runs {finished} are marked FINISHED although their model failed to "
        "save: a run without its model is not a finished run (a deploy step that trusts FINISHED runs would look "
        "for a model that is not there); end it as FAILED "
        "(a `with mlflow.start_run(...)` block does) or delete it")
    ended_otherwise = {run.info.run_id: run.info.status for run in left if run.info.status != "FAILED"}
    assert not ended_otherwise, (
        f"after run_experiment raised, runs are left with the status {ended_otherwise}: a run whose model failed "
        "to save has failed; end it as FAILED (a `with mlflow.start_run(...)` block does) or delete it, never "
        "KILLED (which says someone stopped a healthy run on purpose)")


@pytest.mark.parametrize("failure", ["disk-full", "mlflow-exception"])
def test_a_model_that_fails_to_save_after_another_was_saved_is_still_an_error(mlflow_store, monkeypatch, failure):
    import importlib

    from mlflow.exceptions import MlflowException

    flavor = importlib.import_module("mlflow.sklearn")   # the module log_model saves through
    save_model, saves = flavor.save_model, []
    errors = {"disk-full": OSError(28, "No space left on device"),   # a disk that fills up after the first model
              "mlflow-exception": MlflowException("skops refused to save the model: untrusted types")}   # MLflow's own

    def second_save_fails(*args, **kwargs):
        saves.append(1)
        if len(saves) == 2:
            raise errors[failure]
        return save_model(*args, **kwargs)

    monkeypatch.setattr(flavor, "save_model", second_save_fails)
    import mlflow

    # The experiment already exists and a colleague's training run in it is still under way (RUNNING).
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment_id = client.create_experiment("day02-second-save-fails", artifact_location=mlflow_store.artifact_location)
    colleague = client.create_run(experiment_id, run_name="colleague-still-training").info.run_id
    made, error = _outcome(mlflow_store.tracking_uri, "day02-second-save-fails",
                           artifact_location=mlflow_store.artifact_location)
    assert len(saves) >= 2, f"run_experiment saved {len(saves)} model(s); it should log at least three"
    assert error is not None, (
        f"the second model could not be saved ({errors[failure]!r}), yet run_experiment returned {made!r} "
        "instead of raising: a model that fails to save is an error that propagates, also when other "
        "models were saved before it and also when the error is MLflow's own MlflowException (do not skip it, "
        "catch it to warn, or raise only when every model failed)")
    after = client.get_run(colleague).info
    assert after.status == "RUNNING" and after.lifecycle_stage == "active", (
        f"after run_experiment raised, a colleague's run that was still training in the experiment is "
        f"{after.status} ({after.lifecycle_stage}): on failure end (as FAILED) or delete only the runs this call "
        "made, never every RUNNING run of the experiment (another client's training is not yours to end)")


def _runs_left_running(client, name: str) -> list[str]:
    experiment = client.get_experiment_by_name(name)
    left = [] if experiment is None else client.search_runs([experiment.experiment_id])
    return [run.info.run_id for run in left if run.info.status == "RUNNING"]


@pytest.mark.parametrize("interrupted", [False, True], ids=["database-locked", "keyboard-interrupt"])
def test_a_call_that_fails_while_logging_metrics_leaves_no_run_open(mlflow_store, monkeypatch, interrupted):
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    log_batch, log_metric = SqlAlchemyStore.log_batch, SqlAlchemyStore.log_metric

    def locked(*args, **kwargs):   # the database is busy the moment a run's metrics are written
        if interrupted:   # or the user pressed Ctrl-C in the notebook just then: not an Exception
            raise KeyboardInterrupt
        raise MlflowException("(sqlite3.OperationalError) database is locked")

    def batch_without_metrics(self, run_id, metrics, params, tags):
        if metrics:
            locked()
        return log_batch(self, run_id, metrics, params, tags)

    monkeypatch.setattr(SqlAlchemyStore, "log_batch", batch_without_metrics)
    monkeypatch.setattr(SqlAlchemyStore, "log_metric", locked)
    name, error = "day02-metrics-cannot-be-written", None
    try:
        made = run_experiment(mlflow_store.tracking_uri, name, artifact_location=mlflow_store.artifact_location)
    except NotImplementedError:
        raise   # the stub: not written yet
    except (Exception, KeyboardInterrupt) as exc:   # the failure reached the caller: what should happen
        error = exc
    monkeypatch.setattr(SqlAlchemyStore, "log_batch", log_batch)
    monkeypatch.setattr(SqlAlchemyStore, "log_metric", log_metric)
    assert error is not None, (
        f"no metric could be written (the database was locked), yet run_experiment returned {made!r}: a run "
        "without its metrics is not a whole run; let the error propagate")
    active = mlflow.active_run()
    assert active is None, (
        f"after run_experiment raised while logging metrics, run {active.info.run_id} is still the active run "
        "of this process: end it on any failure, not only a failed model save")
    running = _runs_left_running(mlflow.MlflowClient(mlflow_store.tracking_uri), name)
    assert not running, (
        f"run_experiment raised {type(error).__name__} while logging a run's metrics and left runs {running} "
        "RUNNING in the store forever: a call that raised, wherever it failed (fitting, scoring, logging, "
        "saving) and also when it was interrupted (KeyboardInterrupt is no Exception: `except Exception` misses "
        "it), ends its run as FAILED (a `with mlflow.start_run(...)` block around the whole run does, or "
        "`except BaseException`) or deletes it")
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment = client.get_experiment_by_name(name)
    left = [] if experiment is None else client.search_runs([experiment.experiment_id])   # deleted runs left out
    ended_otherwise = {run.info.run_id: run.info.status for run in left if run.info.status != "FAILED"}
    assert not ended_otherwise, (
        f"run_experiment raised {type(error).__name__} while logging a run's metrics and left runs with the status "
        f"{ended_otherwise}: a call that raised, also one interrupted by Ctrl-C, ends its run as FAILED (a `with "
        "mlflow.start_run(...)` block does) or deletes it, never KILLED (which says someone stopped a healthy run "
        "on purpose) nor FINISHED")


def test_the_callers_own_active_run_is_left_running(mlflow_store):
    import mlflow

    from mlops_katas.infra.mlflow_env import isolated

    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    notebook = client.create_experiment("day02-callers-notebook", artifact_location=mlflow_store.artifact_location)
    with isolated(mlflow_store):
        mlflow.set_tracking_uri(mlflow_store.tracking_uri)
        caller = mlflow.start_run(experiment_id=notebook, run_name="callers-own-run").info.run_id
        try:
            try:
                run_experiment(mlflow_store.tracking_uri, "day02-called-from-a-run",
                               artifact_location=mlflow_store.artifact_location)
            except NotImplementedError:
                raise   # the stub: not written yet
            except Exception:   # refusing to start while a run is active (as mlflow.start_run does) is fine
                pass
            active = mlflow.active_run()
            status = client.get_run(caller).info.status
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
    assert status == "RUNNING" and active is not None and active.info.run_id == caller, (
        f"the caller had its own run under way (RUNNING, active in its process) when it called run_experiment; "
        f"afterwards that run is {status} and the active run is {None if active is None else active.info.run_id}: "
        "never end a run you did not start (no `mlflow.end_run()` 'to be safe'); nest your runs, log through "
        "MlflowClient, or let mlflow.start_run refuse")


def test_the_callers_active_experiment_is_no_obstacle_and_stays_theirs(mlflow_store):
    import mlflow

    from mlops_katas.infra.mlflow_env import isolated

    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    called = "day02-called-from-a-notebook"
    with isolated(mlflow_store):
        mlflow.set_tracking_uri(mlflow_store.tracking_uri)
        notebook = mlflow.set_experiment("day02-the-notebooks-own-experiment").experiment_id
        try:
            run_ids = run_experiment(mlflow_store.tracking_uri, called, artifact_location=mlflow_store.artifact_location)
        except NotImplementedError:
            raise   # the stub: not written yet
        except Exception as exc:
            pytest.fail(f"the caller had set its own active experiment (mlflow.set_experiment, a notebook's first "
                        f"line) and run_experiment raised {type(exc).__name__}: {exc}; MLflow refuses "
                        "mlflow.start_run(run_id=...) on a run of another experiment than the active one: start "
                        "your runs with mlflow.start_run(experiment_id=...)", pytrace=False)
        with mlflow.start_run() as callers_next_run:
            callers_next = callers_next_run.info.experiment_id
    target = client.get_experiment_by_name(called)
    misplaced = [run_id for run_id in run_ids
                 if target is None or client.get_run(run_id).info.experiment_id != target.experiment_id]
    assert not misplaced, (f"runs {misplaced} are not in the experiment {called!r} run_experiment was given: the "
                           "caller's active experiment must not decide where your runs go")
    assert callers_next == notebook, (
        "the caller had set its own active experiment before calling run_experiment; afterwards its next "
        "mlflow.start_run() landed in " + ("run_experiment's experiment" if target is not None
                                           and callers_next == target.experiment_id else "another experiment")
        + ", not in its own: never call mlflow.set_experiment inside run_experiment (pass experiment_id= to "
        "mlflow.start_run instead)")


def test_artifacts_go_to_the_artifact_location_and_nothing_to_the_working_folder(embedded_experiment):
    assert not embedded_experiment.stray_writes, (
        f"run_experiment wrote {embedded_experiment.stray_writes}: use the tracking_uri you are given and "
        "create the experiment with the artifact_location you are given (never ./mlruns or ./mlflow.db)")
    import mlflow

    given = embedded_experiment.artifact_location
    experiment = mlflow.MlflowClient(embedded_experiment.tracking_uri).get_experiment_by_name(embedded_experiment.name)
    assert experiment is not None and experiment.artifact_location == given, (
        f"run_experiment was given the artifact_location {given!r} (a file:// URI) and created the experiment "
        f"with {None if experiment is None else experiment.artifact_location!r}: pass the location on exactly "
        "as given (a path or a URI: file:///..., s3://..., mlflow-artifacts:/...), never through os.path.abspath")
    root = embedded_experiment.store.artifact_root.resolve()
    for run_id, logged in embedded_experiment.models.items():
        where = Path(logged.artifact_location.removeprefix("file://"))
        assert where.is_relative_to(root), (
            f"run {run_id}'s model is stored at {logged.artifact_location}, outside the artifact_location {root}")


def test_an_mlflow_artifacts_location_is_passed_on_as_given(mlflow_store):
    import mlflow
    from mlflow.entities import LoggedModelStatus

    name, location = "day02-proxied-artifacts", "mlflow-artifacts:/team/churn"
    try:   # without a server the models cannot be saved there: raising is right, returning runs without models is not
        made, _ = _outcome(mlflow_store.tracking_uri, name, artifact_location=location)
    finally:
        while mlflow.active_run() is not None:   # a run left open would spoil the next tests (the tests above say so)
            mlflow.end_run()
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment = client.get_experiment_by_name(name)
    stored = None if experiment is None else experiment.artifact_location
    assert stored == location, (
        f"run_experiment was given the artifact_location {location!r} (a URI of the server's artifact proxy, "
        f"with no '://') and created the experiment with {stored!r}: pass the location on exactly as given, "
        "never through os.path.abspath (also not 'unless it contains ://')")
    without_a_model = [run_id for run_id in made or []   # a model whose upload failed is left PENDING or FAILED
                       if not any(model.status == LoggedModelStatus.READY for model in client.search_logged_models(
                           experiment_ids=[experiment.experiment_id], filter_string=f"source_run_id = '{run_id}'"))]
    assert not without_a_model, (
        f"no model can be saved to {location!r} without a tracking server (MLflow raises an MlflowException), yet "
        f"run_experiment returned the runs {without_a_model}, which hold no model: a model that fails to save is "
        "an error that propagates (MLflow's own MlflowException too), never a run returned with metrics and no model")


def test_an_existing_experiment_gets_new_runs_and_only_their_ids_are_returned(existing_experiment):
    import mlflow

    assert existing_experiment.error is None, (
        "run_experiment should reuse an experiment that already exists; it raised "
        f"{existing_experiment.error}")
    experiment = existing_experiment.experiment
    assert not experiment.stray_writes, f"run_experiment wrote {experiment.stray_writes}"
    assert len(experiment.run_ids) >= 3, f"run_experiment should return at least 3 run ids, got {experiment.run_ids!r}"
    assert existing_experiment.earlier_run_id not in experiment.run_ids, (
        "run_experiment returned the id of a run that was in the experiment before it was called (a run "
        "on the same data, with the same dataset_fingerprint): return the ids of the runs it made, "
        "not runs found in the experiment afterwards")
    client = mlflow.MlflowClient(experiment.tracking_uri)
    earlier = client.get_run(existing_experiment.earlier_run_id)
    assert earlier.info.lifecycle_stage == "active" and earlier.data.metrics.get("roc_auc") == 0.5, (
        "the run that was in the experiment before the call is gone or changed: an existing experiment is "
        "reused as it is, and run_experiment adds its runs next to the runs already there (never deletes them)")
    expected_tag = fingerprint(*make_dataset(experiment.seed))
    for run_id in experiment.run_ids:
        run = client.get_run(run_id)
        assert run.info.experiment_id == existing_experiment.experiment_id, (
            f"run {run_id} should go into the existing experiment {experiment.name!r} (its name ends in a space), "
            "not a new one: take the experiment name exactly as given, never stripped")
        assert run.data.tags.get("dataset_fingerprint") == expected_tag, (
            f"run {run_id} was made with the default seed ({experiment.seed}); its dataset_fingerprint should be "
            f"fingerprint(*make_dataset({experiment.seed}))")


def test_an_existing_experiment_and_the_runs_already_in_it_are_left_as_they_were(existing_experiment):
    assert existing_experiment.error is None, f"run_experiment raised {existing_experiment.error}"
    before, after = existing_experiment.before, existing_experiment.after
    assert after["experiment"] == before["experiment"], (
        f"run_experiment changed the existing experiment it was given (before: {before['experiment']}, after: "
        f"{after['experiment']}): an existing experiment is reused as it is; record what a run saw on the run "
        "(its tags), never by renaming, moving or tagging the experiment other runs share")
    names = {existing_experiment.earlier_run_id: "the finished earlier run",
             existing_experiment.still_running_run_id: "a colleague's run, still RUNNING (training under way)"}
    changed = {names[run_id]: (before["runs"][run_id], after["runs"][run_id]) for run_id in before["runs"]
               if after["runs"][run_id] != before["runs"][run_id]}
    assert not changed, (
        f"run_experiment changed runs that were in the experiment before the call (before, after): {changed}; "
        "leave the runs already there alone: never end, kill, delete, rename or tag another client's run "
        "(a RUNNING run may be a colleague's training under way, not one left open by a crash)")


def test_a_second_call_into_the_same_experiment_returns_only_its_own_runs(mlflow_store):
    import mlflow

    name = "day02-called-twice"
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    first = run_experiment(mlflow_store.tracking_uri, name, artifact_location=mlflow_store.artifact_location)
    second = run_experiment(mlflow_store.tracking_uri, name, artifact_location=mlflow_store.artifact_location)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, f"run_experiment should create the experiment {name!r} in the store at tracking_uri"
    again = sorted(set(first) & set(second))
    assert not again, (
        f"the second call into {name!r} returned runs {again} that the first call made (same seed, same models, "
        "same run names): return the ids of the runs this call made, kept as you make them, not runs found "
        "in the experiment afterwards")
    gone = sorted(run_id for run_id in first if client.get_run(run_id).info.lifecycle_stage != "active")
    assert not gone, (
        f"the second call into {name!r} deleted the runs {gone} the first call made (runs of the same names): "
        "an existing experiment is reused as it is, a rerun adds runs next to the earlier ones and never "
        "deletes or replaces them (the earlier runs are the history a team compares against)")
    stored = {run.info.run_id for run in client.search_runs([experiment.experiment_id])}
    added = stored - set(first)
    assert set(second) == added, (
        f"the second call added the runs {sorted(added)} to {name!r} but returned {sorted(second)}: one id for "
        "every run it made, and only those")


def test_a_deleted_experiment_is_an_error_and_stays_deleted(mlflow_store):
    import mlflow
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    name = "day02-deleted-earlier"
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment_id = client.create_experiment(name, artifact_location=mlflow_store.artifact_location)
    earlier = client.create_run(experiment_id, run_name="before-the-delete")
    client.set_terminated(earlier.info.run_id)
    client.delete_experiment(experiment_id)
    made, error = _outcome(mlflow_store.tracking_uri, name, artifact_location=mlflow_store.artifact_location)
    assert error is not None, (
        f"the experiment {name!r} was deleted (it is in MLflow's trash), yet run_experiment returned {made!r} "
        "instead of raising: a deleted experiment of that name is an error (MlflowException)")
    assert isinstance(error, MlflowException), (
        f"run_experiment refused the deleted experiment {name!r} with {type(error).__name__}: {error}; it should "
        "raise MLflow's own MlflowException (what MLflow itself raises for a deleted experiment)")
    stage = client.get_experiment(experiment_id).lifecycle_stage
    assert stage == "deleted", (
        f"after run_experiment refused the deleted experiment {name!r}, its lifecycle_stage is {stage!r}: it "
        "should still be 'deleted' (never restore an experiment someone deleted)")
    same_name = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL) if e.name == name]
    assert same_name == [experiment_id], (
        f"after run_experiment refused the deleted experiment {name!r}, the store holds the experiments "
        f"{same_name} of that name: there should still be exactly one, the deleted {experiment_id} "
        "(never create another one)")
    runs = [run.info.run_id for run in client.search_runs([experiment_id], run_view_type=ViewType.ALL)]
    assert runs == [earlier.info.run_id], (
        f"after run_experiment refused the deleted experiment {name!r}, it holds the runs {runs}: it should hold "
        f"only the run {earlier.info.run_id} it had before (no new run in a deleted experiment)")


def test_runs_another_client_logs_during_the_call_are_not_returned(mlflow_store, monkeypatch):
    import importlib

    import mlflow

    name, seed = "day02-shared-with-a-colleague", 3
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    flavor = importlib.import_module("mlflow.sklearn")   # the module log_model saves through
    save_model, saves, colleague = flavor.save_model, [], []

    def a_colleague_logs_a_run_meanwhile(*args, **kwargs):   # while the second model is being saved
        saves.append(1)
        if len(saves) == 2:
            experiment = client.get_experiment_by_name(name)
            run = client.create_run(experiment.experiment_id, run_name="colleague-same-data",
                                    tags={"dataset_fingerprint": fingerprint(*make_dataset(seed))})
            client.log_metric(run.info.run_id, "roc_auc", 0.99)
            client.set_terminated(run.info.run_id)
            colleague.append(run.info.run_id)
        return save_model(*args, **kwargs)

    monkeypatch.setattr(flavor, "save_model", a_colleague_logs_a_run_meanwhile)
    made = run_experiment(mlflow_store.tracking_uri, name, seed=seed, artifact_location=mlflow_store.artifact_location)
    assert colleague, f"run_experiment saved {len(saves)} model(s); it should log at least three"
    assert colleague[0] not in made, (
        "another client started and finished a run on the same data (same dataset_fingerprint) in the same "
        "experiment while run_experiment was saving its second model, and run_experiment returned its id: "
        "return the ids of the runs you made as you make them, not the newest or matching runs found "
        "afterwards (by start or end time, tag or name)")
    experiment = client.get_experiment_by_name(name)
    ours = {run.info.run_id for run in client.search_runs([experiment.experiment_id])} - set(colleague)
    assert set(made) == ours, f"run_experiment made the runs {sorted(ours)} but returned {sorted(made)}"


def test_each_call_looks_the_experiment_up_and_points_mlflow_at_tracking_uri_afresh(mlflow_store):
    import mlflow

    name = "day02-renamed-between-calls"
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    first = run_experiment(mlflow_store.tracking_uri, name, artifact_location=mlflow_store.artifact_location)
    old = client.get_experiment_by_name(name)
    assert old is not None, f"run_experiment should create the experiment {name!r} in the store at tracking_uri"
    client.rename_experiment(old.experiment_id, f"{name}-last-quarter")
    # Between the two calls the caller points MLflow at its own store again (as a notebook cell does).
    mlflow.set_tracking_uri(mlflow_store.default_uri)
    try:
        second = run_experiment(mlflow_store.tracking_uri, name, artifact_location=mlflow_store.artifact_location)
    except Exception as exc:
        pytest.fail(f"the second call to run_experiment raised {type(exc).__name__}: {exc}; after the caller set "
                    "its own tracking URI between two calls, the tracking_uri passed in must still win: call "
                    "mlflow.set_tracking_uri(tracking_uri) on every call, not once per URI (no cached set-up)")
    assert not mlflow_store.stray_writes(), (
        f"the second call wrote {mlflow_store.stray_writes()}: the caller set its own tracking URI between two "
        "calls, and the tracking_uri passed in must still win; call mlflow.set_tracking_uri(tracking_uri) on "
        "every call, not once per URI")
    new = client.get_experiment_by_name(name)
    assert new is not None and new.experiment_id != old.experiment_id, (
        f"the experiment {name!r} was renamed after the first call, so the second call should create a new "
        f"experiment of that name; {'there is none' if new is None else 'the name still leads to the old one'} "
        "(look the experiment up by name on every call, do not remember its id)")
    misplaced = {run_id: client.get_run(run_id).info.experiment_id for run_id in second
                 if client.get_run(run_id).info.experiment_id != new.experiment_id}
    assert not misplaced, (
        f"the second call's runs {misplaced} went into the experiment renamed '{name}-last-quarter', not into "
        f"the experiment now named {name!r}: look the experiment up by name on every call "
        "(get_experiment_by_name), do not remember ids from an earlier call")
    assert not set(first) & set(second), "each call should return the ids of the runs it made itself"


def _models_of(store, tracking_uri: str, experiment_id: str, run_ids) -> dict:
    """The models of the given runs, loaded back, by run id."""
    import mlflow

    from mlops_katas.infra.mlflow_env import isolated

    client = mlflow.MlflowClient(tracking_uri)
    models = {}
    with isolated(store):
        mlflow.set_tracking_uri(tracking_uri)
        for run_id in run_ids:
            logged = client.search_logged_models(experiment_ids=[experiment_id],
                                                 filter_string=f"source_run_id = '{run_id}'")
            assert len(logged) == 1, f"run {run_id} should hold exactly one logged model, not {len(logged)}"
            models[run_id] = mlflow.sklearn.load_model(logged[0].model_uri)
    return models


def _default_seed_models(existing_experiment) -> dict:
    """The models of the call that left the seed at its default (0), loaded back, by run id."""
    assert existing_experiment.error is None, f"run_experiment raised {existing_experiment.error}"
    experiment = existing_experiment.experiment
    return _models_of(experiment.store, experiment.tracking_uri, existing_experiment.experiment_id, experiment.run_ids)


def _models_in(mlflow_store, name: str, run_ids) -> dict:
    """The models of the given runs of the experiment called `name`, loaded back, by run id."""
    import mlflow

    experiment = mlflow.MlflowClient(mlflow_store.tracking_uri).get_experiment_by_name(name)
    assert experiment is not None, f"run_experiment should create the experiment {name!r} in the store at tracking_uri"
    return _models_of(mlflow_store, mlflow_store.tracking_uri, experiment.experiment_id, run_ids)


def test_with_the_default_seed_0_tree_models_still_have_a_fixed_random_state(existing_experiment):
    for run_id, model in _default_seed_models(existing_experiment).items():
        for step in _steps(model):
            if _fit_is_random(step):
                assert step.get_params().get("random_state") is not None, (
                    f"called with the default seed 0, run {run_id}'s {type(step).__name__} has "
                    "random_state=None: 0 is a seed like any other (`seed or None` turns it into "
                    "fresh randomness); pass random_state=seed")


def _random_fit_draws(models) -> dict[str, list[int]]:
    """The first number each estimator's random_state draws (every estimator whose random_state is set, whatever
    its kind), by estimator class."""
    import copy

    from sklearn.utils import check_random_state

    draws: dict[str, list[int]] = {}
    for model in models:
        for step in _steps(model):
            state = step.get_params(deep=False).get("random_state")
            if state is not None:
                draws.setdefault(type(step).__name__, []).append(
                    int(check_random_state(copy.deepcopy(state)).randint(2**31)))
    return {name: sorted(values) for name, values in draws.items()}


def _default_seed_draws(existing_experiment) -> dict[str, list[int]]:
    """What the estimators of the call that left the seed at its default (0) draw first."""
    return _random_fit_draws(_default_seed_models(existing_experiment).values())


def _same_draw_for_both_seeds(one: dict[str, list[int]], other: dict[str, list[int]]) -> list[str]:
    """The estimator kinds of which some estimator drew the same first number under both seeds: a random_state
    written once for every seed (each kind on its own: another kind's seeded random_state does not excuse it)."""
    return sorted(kind for kind in set(one) & set(other) if set(one[kind]) & set(other[kind]))


def test_another_seed_is_another_draw_for_the_estimators_too(embedded_experiment, existing_experiment):
    _check_one_model_per_run(embedded_experiment)
    seeded = _random_fit_draws(logged.sklearn_model for logged in embedded_experiment.models.values())
    same = _same_draw_for_both_seeds(seeded, _default_seed_draws(existing_experiment))
    assert not same, (
        f"called with seed {embedded_experiment.seed} and with seed {existing_experiment.experiment.seed}, the "
        f"{', '.join(same)} got the same random_state both times: the call's seed seeds every estimator too "
        "(random_state=seed, or a number derived from it), each kind on its own, never a random_state=42 fixed "
        "for every seed (an SGD or a second tree with a fixed one is not excused by a seeded forest)")


def test_seed_0_is_another_draw_for_the_estimators_than_seed_42(mlflow_store, existing_experiment):
    name = "day02-seed-42"
    run_ids = run_experiment(mlflow_store.tracking_uri, name, seed=42, artifact_location=mlflow_store.artifact_location)
    at_42 = _random_fit_draws(_models_in(mlflow_store, name, run_ids).values())
    same = _same_draw_for_both_seeds(at_42, _default_seed_draws(existing_experiment))
    assert not same, (
        f"called with the default seed 0 and with seed 42, the {', '.join(same)} got the same random_state both "
        "times: seed 0 is a seed for every estimator too, never replaced by another one (`seed or 42` gives seed 0 "
        "the draw of seed 42), and no estimator keeps a random_state fixed for every seed")


LARGEST_SEED = 2**32 - 1   # the largest seed scikit-learn's random_state takes


@pytest.fixture(scope="session")
def largest_seed_call(mlflow_store_factory):
    """`run_experiment` called with the largest seed: (store, experiment name, returned, raised)."""
    from mlops_katas.infra.mlflow_env import isolated

    store, name = mlflow_store_factory("day02-largest-seed"), "day02-largest-seed"
    with isolated(store):
        return store, name, *_outcome(store.tracking_uri, name, seed=LARGEST_SEED,
                                      artifact_location=store.artifact_location)


def _largest_seed_models(largest_seed_call) -> dict:
    """The models of the call with the largest seed, loaded back, by run id."""
    store, name, made, error = largest_seed_call
    assert error is None, (
        f"run_experiment(..., seed={LARGEST_SEED}) raised {type(error).__name__}: {error}; 2**32 - 1 is a seed (the "
        "largest scikit-learn's random_state takes), so a random_state you derive from it must stay within "
        "0..2**32 - 1 (`seed + 1` leaves that range at the largest seed)")
    assert len(made) >= 3, f"run_experiment(..., seed={LARGEST_SEED}) should return at least 3 run ids, got {made!r}"
    return _models_in(store, name, made)


def test_the_largest_seed_also_runs_the_experiment(largest_seed_call, existing_experiment):
    models = _largest_seed_models(largest_seed_call)
    for run_id, model in models.items():
        for step in _steps(model):
            state = step.get_params(deep=False).get("random_state")
            assert state is None or not isinstance(state, (int, np.integer)) or 0 <= state <= LARGEST_SEED, (
                f"called with seed {LARGEST_SEED}, run {run_id}'s {type(step).__name__} has random_state={state}, "
                "outside scikit-learn's range 0..2**32 - 1: derive every random_state so it stays a valid one")
    same = _same_draw_for_both_seeds(_random_fit_draws(models.values()), _default_seed_draws(existing_experiment))
    assert not same, (
        f"called with seed {LARGEST_SEED} and with the default seed 0, the {', '.join(same)} got the same "
        "random_state both times: a seed is never folded into a smaller range (`seed % (2**32 - 1)` gives the "
        "largest seed the draw of seed 0)")


def test_the_two_largest_seeds_are_two_draws_for_the_estimators_too(mlflow_store, largest_seed_call):
    name, seed = "day02-second-largest-seed", LARGEST_SEED - 1
    made, error = _outcome(mlflow_store.tracking_uri, name, seed=seed, artifact_location=mlflow_store.artifact_location)
    assert error is None, f"run_experiment(..., seed={seed}) raised {type(error).__name__}: {error}; 2**32 - 2 is a seed"
    second_largest = _random_fit_draws(_models_in(mlflow_store, name, made).values())
    same = _same_draw_for_both_seeds(second_largest, _random_fit_draws(_largest_seed_models(largest_seed_call).values()))
    assert not same, (
        f"called with seed {seed} and with seed {LARGEST_SEED}, the {', '.join(same)} got the same random_state both "
        "times: another seed is another draw for every estimator, up to the largest; a random_state derived from "
        "the seed is never clamped into range (`min(seed + 1, 2**32 - 1)` gives the two largest seeds one draw)")


def test_a_seed_past_the_31_bit_range_is_not_folded_into_a_small_one(mlflow_store, existing_experiment):
    name, seed = "day02-seed-2-to-the-31", 2**31
    made, error = _outcome(mlflow_store.tracking_uri, name, seed=seed, artifact_location=mlflow_store.artifact_location)
    assert error is None, f"run_experiment(..., seed={seed}) raised {type(error).__name__}: {error}; 2**31 is a seed"
    folded = _random_fit_draws(_models_in(mlflow_store, name, made).values())
    same = _same_draw_for_both_seeds(folded, _default_seed_draws(existing_experiment))
    assert not same, (
        f"called with seed {seed} and with the default seed 0, the {', '.join(same)} got the same random_state both "
        "times: every seed up to 2**32 - 1 is a valid random_state as it is, so never fold it into a 31-bit one "
        "(`seed % 2**31` or `seed & 0x7FFFFFFF` gives seed 2**31 the draw of seed 0)")


IN_ANOTHER_PROCESS = """
import copy, json, sys
sys.path.insert(0, sys.argv[1])
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
draws, validate = [], BaseEstimator._validate_params
def noted(self, *args, **kwargs):   # every fit validates its estimator first: note its random_state's draw
    state = self.get_params(deep=False).get("random_state")
    if state is not None:
        draws.append([type(self).__name__, int(check_random_state(copy.deepcopy(state)).randint(2**31))])
    return validate(self, *args, **kwargs)
BaseEstimator._validate_params = noted
from experiment import run_experiment
run_experiment(sys.argv[2], "day02-another-process", seed=int(sys.argv[3]), artifact_location=sys.argv[4])
print(json.dumps(sorted(draws)))
"""


def test_the_same_seed_seeds_the_estimators_alike_in_another_process(embedded_experiment, tmp_path):
    here = sorted([fit.estimator, fit.draw] for fit in embedded_experiment.fits if fit.draw is not None)
    # Another hash seed than this process's: a random_state derived with hash() of a string then changes.
    hash_seed = "54321" if os.environ.get("PYTHONHASHSEED") == "12345" else "12345"
    uri = f"sqlite:///{tmp_path / 'another-process.db'}"
    there = _in_a_fresh_python(IN_ANOTHER_PROCESS, tmp_path, uri, str(embedded_experiment.seed),
                               str(tmp_path / "artifacts"), env={"PYTHONHASHSEED": hash_seed, "MLFLOW_TRACKING_URI": uri},
                               where=f"a fresh Python process (seed={embedded_experiment.seed})")
    assert there == here, (
        f"run_experiment(seed={embedded_experiment.seed}) seeds the estimators it fits differently in another "
        f"Python process (estimator, first draw of its random_state: here {here[:6]}, there {there[:6]}): the "
        "same seed must give the same models everywhere; derive every random_state from `seed` alone, never "
        "from hash() of a string, which Python salts differently in every process (PYTHONHASHSEED)")


def test_through_the_server_metrics_equal_metrics_recomputed_on_held_out_data(served_experiment):
    _check_metrics(served_experiment)


def test_through_the_server_models_load_with_pyfunc(served_experiment):
    _check_pyfunc(served_experiment)


def test_through_the_server_artifacts_are_stored_by_the_server(served_experiment):
    import mlflow

    assert not served_experiment.stray_writes, (
        f"run_experiment wrote {served_experiment.stray_writes}: with a server, everything goes through it")
    client = mlflow.MlflowClient(served_experiment.tracking_uri)
    for run_id in served_experiment.run_ids:
        uri = client.get_run(run_id).info.artifact_uri
        assert uri.startswith("mlflow-artifacts:"), (
            f"run {run_id} keeps its artifacts at {uri}; with artifact_location=None the server's own "
            "artifact store (mlflow-artifacts:/) should be used")
