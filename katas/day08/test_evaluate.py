"""Task 1: score any registered or logged model on the rows you are given."""

import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from registry import evaluate

pytestmark = [pytest.mark.task(taskno=1), pytest.mark.mlflow, pytest.mark.timeout(240)]


def _register(test_side_mlflow, registry, name, run):
    with test_side_mlflow() as mlflow:
        return mlflow.register_model(registry.model_uris[run], name).version


@pytest.mark.parametrize("form", ["version", "alias", "logged-model"])
def test_roc_auc_of_a_registered_version_matches_scikit_learn(registry, held_out, mlflow_name, form,
                                                              test_side_mlflow):
    import mlflow

    version = _register(test_side_mlflow, registry, mlflow_name, "good")
    mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri
                        ).set_registered_model_alias(mlflow_name, "champion", version)
    uri = {"version": f"models:/{mlflow_name}/{version}", "alias": f"models:/{mlflow_name}@champion",
           "logged-model": registry.model_uris["good"]}[form]
    score = evaluate(registry.tracking_uri, uri, registry.X_test, registry.y_test)
    assert score == pytest.approx(held_out["good"], abs=1e-9), (
        f"evaluate({uri!r}) should return the model's ROC AUC on the rows given ({held_out['good']:.4f}), "
        f"not {score:.4f}")


@pytest.mark.parametrize("metric, compute, by_position", [
    ("accuracy", accuracy_score, False), ("f1", f1_score, False), ("accuracy", accuracy_score, True),
], ids=["accuracy-accuracy_score", "f1-f1_score", "accuracy-by-position"])
def test_label_metrics_match_scikit_learn(registry, mlflow_name, metric, compute, by_position, test_side_mlflow):
    version = _register(test_side_mlflow, registry, mlflow_name, "best")
    uri = f"models:/{mlflow_name}/{version}"
    with test_side_mlflow() as mlflow:
        predicted = mlflow.sklearn.load_model(uri).predict(registry.X_test)
    expected = compute(registry.y_test, predicted)
    # The contract lets callers pass metric by position too: evaluate(uri, model_uri, X, y, "accuracy").
    args, options = ((metric,), {}) if by_position else ((), {"metric": metric})
    score = evaluate(registry.tracking_uri, uri, registry.X_test, registry.y_test, *args, **options)
    call = f"evaluate(..., {metric!r})" if by_position else f"evaluate(metric={metric!r})"
    assert score == pytest.approx(expected, abs=1e-9), f"{call} should be {expected:.4f}, not {score:.4f}"


def test_scores_the_rows_it_is_given(registry, held_out, mlflow_name, test_side_mlflow):
    version = _register(test_side_mlflow, registry, mlflow_name, "good")
    half = len(registry.y_test) // 2
    X, y = registry.X_test[:half], registry.y_test[:half]
    with test_side_mlflow() as mlflow:
        model = mlflow.sklearn.load_model(f"models:/{mlflow_name}/{version}")
    expected = roc_auc_score(y, model.predict_proba(X)[:, 1])
    score = evaluate(registry.tracking_uri, f"models:/{mlflow_name}/{version}", X, y)
    assert score == pytest.approx(expected, abs=1e-9), "evaluate should score exactly the rows passed in"


def test_scores_the_rows_in_full_precision_not_a_float32_copy(registry, mlflow_name, test_side_mlflow):
    import numpy as np

    version = _register(test_side_mlflow, registry, mlflow_name, "good")
    uri = f"models:/{mlflow_name}/{version}"
    with test_side_mlflow() as mlflow:
        model = mlflow.sklearn.load_model(uri)
    # Two rows a hair apart (far below float32 precision): the second one nudged towards class 1.
    base = np.asarray(registry.X_test[:1], dtype=np.float64)
    pairs = []
    for feature in range(base.shape[1]):
        for step in (1e-9, -1e-9):
            nudged = base.copy()
            nudged[0, feature] += step * max(1.0, abs(base[0, feature]))
            if np.array_equal(nudged.astype(np.float32), base.astype(np.float32)):
                p = model.predict_proba(np.vstack([base, nudged]))[:, 1]
                if p[1] > p[0]:
                    pairs.append(np.vstack([base, nudged]))
    assert pairs, "setup: some nudge below float32 precision should raise the model's probability of class 1"
    X, y = pairs[0], np.array([0, 1])
    expected = roc_auc_score(y, model.predict_proba(X)[:, 1])
    assert expected == 1.0, f"setup: on these two rows the model ranks the positive one first (ROC AUC 1.0), not {expected}"
    score = evaluate(registry.tracking_uri, uri, X, y)
    assert score == pytest.approx(expected, abs=1e-9), (
        f"the two rows differ only in the 9th digit, and the model gives the class-1 row the higher probability: "
        f"ROC AUC {expected} on exactly the rows given, not {score}: score the rows as given, in full precision "
        "(a float32 copy makes the two rows one and their scores a tie)")


@pytest.mark.parametrize("label", [0, 1])
def test_roc_auc_on_rows_of_one_class_is_not_a_number(registry, mlflow_name, label, test_side_mlflow):
    import math
    import warnings

    version = _register(test_side_mlflow, registry, mlflow_name, "good")
    rows = registry.y_test == label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns that ROC AUC is undefined on rows of one class
        try:
            score = evaluate(registry.tracking_uri, f"models:/{mlflow_name}/{version}", registry.X_test[rows],
                             registry.y_test[rows])
        except ValueError:
            return  # refusing to score is fine too
    assert isinstance(score, float) and math.isnan(score), (
        f"on rows that are all of class {label} ROC AUC is undefined: evaluate should return NaN (what scikit-learn "
        f"gives) or raise ValueError, not {score!r}, a made-up number that would rank and compare like a real score")


@pytest.mark.parametrize("metric", ["precision_at_7", "", "ROC_AUC", "f1 ", "auc", "acc", "roc-auc", "precision"])
def test_an_unknown_metric_is_a_value_error(registry, mlflow_name, metric, test_side_mlflow):
    version = _register(test_side_mlflow, registry, mlflow_name, "weak")
    with pytest.raises(ValueError):
        evaluate(registry.tracking_uri, f"models:/{mlflow_name}/{version}", registry.X_test, registry.y_test,
                 metric=metric)
        pytest.fail(f"metric={metric!r} is not exactly accuracy, f1 or roc_auc: evaluate should raise ValueError, "
                    "not fall back to a default metric, guess at another spelling or accept another scorer's name")


def _register_in(test_side_mlflow, store_uri, name, logged_model_uri):
    with test_side_mlflow() as mlflow:
        mlflow.set_tracking_uri(store_uri)
        mlflow.set_registry_uri(store_uri)
        return mlflow.register_model(logged_model_uri, name).version


def test_each_store_serves_its_own_versions(registry, held_out, mlflow_name, test_side_mlflow, second_store):
    other = second_store
    assert str(_register(test_side_mlflow, registry, mlflow_name, "weak")) == "1", "setup: version 1 in the test store"
    assert str(_register_in(test_side_mlflow, other, mlflow_name, registry.model_uris["good"])) == "1", (
        "setup: version 1 in the second store")
    uri = f"models:/{mlflow_name}/1"
    here = evaluate(registry.tracking_uri, uri, registry.X_test, registry.y_test)
    there = evaluate(other, uri, registry.X_test, registry.y_test)
    assert (here, there) == (pytest.approx(held_out["weak"], abs=1e-9), pytest.approx(held_out["good"], abs=1e-9)), (
        f"{uri} is the weak model in one store ({held_out['weak']:.4f}) and the good one in another "
        f"({held_out['good']:.4f}); evaluate gave {here:.4f} and {there:.4f}: load from the store at tracking_uri "
        "on every call, not from models kept by their URI since an earlier call")


def test_a_registry_uri_left_pointing_elsewhere_does_not_change_the_model(registry, held_out, mlflow_name,
                                                                          test_side_mlflow, second_store):
    import mlflow

    other = second_store
    _register(test_side_mlflow, registry, mlflow_name, "weak")
    _register_in(test_side_mlflow, other, mlflow_name, registry.model_uris["good"])
    before = mlflow.get_registry_uri()
    mlflow.set_registry_uri(other)  # as other code in the same process might have left it
    uri = f"models:/{mlflow_name}/1"
    try:
        score = evaluate(registry.tracking_uri, uri, registry.X_test, registry.y_test)
    finally:
        mlflow.set_registry_uri(before)
    assert score == pytest.approx(held_out["weak"], abs=1e-9), (
        f"the process's registry URI pointed at another store, where {uri} is the good model; evaluate was given "
        f"the test store, where it is the weak one ({held_out['weak']:.4f}), not {score:.4f}: point both the "
        "tracking and the registry URI at tracking_uri before loading")


def test_a_model_created_again_under_its_old_name_is_loaded_afresh(registry, held_out, mlflow_name, test_side_mlflow):
    assert str(_register(test_side_mlflow, registry, mlflow_name, "weak")) == "1", "setup: version 1 is the weak model"
    uri = f"models:/{mlflow_name}/1"
    first = evaluate(registry.tracking_uri, uri, registry.X_test, registry.y_test)
    assert first == pytest.approx(held_out["weak"], abs=1e-9), f"setup: {uri} should score as the weak model"
    with test_side_mlflow() as mlflow:
        # A team cleans up and registers the model again: the new registered model numbers from 1 again.
        mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri
                            ).delete_registered_model(mlflow_name)
        assert str(mlflow.register_model(registry.model_uris["good"], mlflow_name).version) == "1", (
            "setup: the model created again should start at version 1")
    again = evaluate(registry.tracking_uri, uri, registry.X_test, registry.y_test)
    assert again == pytest.approx(held_out["good"], abs=1e-9), (
        f"{mlflow_name!r} was deleted and created again, and {uri} is now the good model ({held_out['good']:.4f}); "
        f"evaluate gave {again:.4f}, the score of the weak model that version 1 was before: load what the URI points "
        "at now, not a model kept from an earlier call (a version number is not forever)")
