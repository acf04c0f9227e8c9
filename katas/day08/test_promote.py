"""Task 3: promote the challenger to champion only when it is better by a margin."""

import warnings

import numpy as np
import pytest

from registry import promote_if_better, register_challenger

pytestmark = [pytest.mark.task(taskno=3), pytest.mark.mlflow, pytest.mark.timeout(240)]


def _client(uri):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _aliases(registry, name) -> dict[str, str]:
    """alias -> version, for every alias of the registered model."""
    return {alias: str(version) for alias, version in _client(registry.tracking_uri).get_registered_model(name).aliases.items()}


def _promote(registry, name, **kwargs):
    return promote_if_better(registry.tracking_uri, name, registry.X_test, registry.y_test, **kwargs)


def _champion_then_challenger(registry, name, champion_run, challenger_run):
    register_challenger(registry.tracking_uri, registry.run_ids[champion_run], name)
    assert _promote(registry, name) is True, "with no champion yet, the first challenger should be promoted"
    register_challenger(registry.tracking_uri, registry.run_ids[challenger_run], name)


def test_the_first_challenger_becomes_champion(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    assert _promote(registry, mlflow_name) is True, "with no champion yet, promote_if_better should promote and return True"
    aliases = _aliases(registry, mlflow_name)
    assert aliases.get("champion") == "1", f"after promotion 'champion' should point at version 1: {aliases}"
    assert "challenger" not in aliases, f"after promotion the 'challenger' alias should be gone: {aliases}"


def test_with_no_champion_the_challenger_is_promoted_whatever_the_margin(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    assert _promote(registry, mlflow_name, margin=float("inf")) is True, (
        "with no champion yet the challenger is promoted without being scored: there is nothing to beat, so even "
        "an infinite margin does not hold it back (do not compare it with a made-up baseline such as 0 or -inf)")
    aliases = _aliases(registry, mlflow_name)
    assert aliases.get("champion") == "1" and "challenger" not in aliases, (
        f"after the first promotion 'champion' should point at version 1 and 'challenger' be gone: {aliases}")


@pytest.mark.parametrize("label", [0, 1], ids=["class-0-only", "class-1-only"])
@pytest.mark.parametrize("champion", ["none yet", "removed by hand"])
def test_with_no_champion_the_challenger_is_promoted_unscored_even_on_rows_of_one_class(
        registry, mlflow_name, champion, label):
    if champion == "removed by hand":
        register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
        assert _promote(registry, mlflow_name) is True, "setup: the first challenger (best) should become champion"
        _client(registry.tracking_uri).delete_registered_model_alias(mlflow_name, "champion")
    version = register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    rows = registry.y_test == label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns that ROC AUC is undefined on rows of one class
        try:
            promoted = promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[rows],
                                         registry.y_test[rows])
        except ValueError as error:
            promoted = f"ValueError: {error}"
    assert promoted is True, (
        f"with no champion ({champion}) nothing is scored and the challenger is promoted, even on rows of one class "
        f"where its ROC AUC would be undefined (NaN); promote_if_better returned {promoted!r} instead of True: do not "
        "score the challenger (or refuse it for its score) when there is no champion to beat")
    aliases = _aliases(registry, mlflow_name)
    assert aliases.get("champion") == version and "challenger" not in aliases, (
        f"after the promotion 'champion' should point at version {version} and 'challenger' be gone: {aliases}")


def test_a_clearly_better_challenger_is_promoted(registry, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "weak", "good")
    assert _promote(registry, mlflow_name) is True, "a challenger far better than the champion should be promoted"
    aliases = _aliases(registry, mlflow_name)
    assert aliases.get("champion") == "2", f"'champion' should move to the challenger's version 2: {aliases}"
    assert "challenger" not in aliases, f"after promotion the 'challenger' alias should be removed: {aliases}"


def test_a_worse_challenger_is_not_promoted(registry, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "good", "weak")
    assert _promote(registry, mlflow_name) is False, "a challenger worse than the champion must not be promoted"
    aliases = _aliases(registry, mlflow_name)
    assert (aliases.get("champion"), aliases.get("challenger")) == ("1", "2"), (
        f"when nothing is promoted, 'champion' should stay on 1 and 'challenger' on 2: {aliases}")


def test_the_challenger_is_measured_against_the_champion_not_the_newest_version(registry, held_out, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "good", "weak")
    assert _promote(registry, mlflow_name) is False, "setup: the weak version 2 should have been rejected"
    register_challenger(registry.tracking_uri, registry.run_ids["overclaimed"], mlflow_name)
    assert _promote(registry, mlflow_name) is False, (
        f"version 3 scores {held_out['overclaimed']:.3f}: better than the rejected version 2 "
        f"({held_out['weak']:.3f}) but worse than the champion, version 1 ({held_out['good']:.3f}); "
        "compare the challenger with the version 'champion' points at")
    assert _aliases(registry, mlflow_name).get("champion") == "1", "the champion should stay on version 1"


def test_promotion_is_judged_on_the_metric_asked_for(registry, mlflow_name, test_side_mlflow):
    from sklearn.metrics import accuracy_score, f1_score

    _champion_then_challenger(registry, mlflow_name, "good", "best")
    with test_side_mlflow() as mlflow:
        accuracy = {v: accuracy_score(registry.y_test, mlflow.sklearn.load_model(f"models:/{mlflow_name}/{v}")
                                      .predict(registry.X_test)) for v in ("1", "2")}
    gain = accuracy["2"] - accuracy["1"]
    assert 0 < gain < 0.01, f"setup: the challenger should gain less than 0.01 accuracy, not {gain:.4f}"
    assert _promote(registry, mlflow_name, metric="accuracy") is False, (
        f"with metric='accuracy' the challenger gains only {gain:.4f}, less than the default margin 0.01 "
        "(its ROC AUC gain is far larger): it must not be promoted")
    assert _aliases(registry, mlflow_name).get("champion") == "1", "the champion should stay on version 1"
    with test_side_mlflow() as mlflow:
        f1 = {v: f1_score(registry.y_test, mlflow.sklearn.load_model(f"models:/{mlflow_name}/{v}")
                          .predict(registry.X_test)) for v in ("1", "2")}
    assert f1["2"] - f1["1"] > 0.015, f"setup: the challenger should gain more than 0.015 f1, not {f1['2'] - f1['1']:.4f}"
    assert _promote(registry, mlflow_name, metric="f1") is True, (
        f"with metric='f1' the challenger ({f1['2']:.4f}) beats the champion ({f1['1']:.4f}) by more than the "
        "margin 0.01: it should be promoted (score both versions with the metric asked for)")


def test_an_explicit_zero_margin_promotes_any_real_gain(registry, mlflow_name, test_side_mlflow):
    from sklearn.metrics import accuracy_score

    _champion_then_challenger(registry, mlflow_name, "good", "best")
    with test_side_mlflow() as mlflow:
        accuracy = {v: accuracy_score(registry.y_test, mlflow.sklearn.load_model(f"models:/{mlflow_name}/{v}")
                                      .predict(registry.X_test)) for v in ("1", "2")}
    gain = accuracy["2"] - accuracy["1"]
    assert 0 < gain < 0.01, f"setup: the challenger should gain a little accuracy (less than 0.01), not {gain:.4f}"
    # Passed by position, in the contract's order: metric, then margin.
    promoted = promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test, "accuracy", 0.0)
    assert promoted is True, (
        f"margin 0.0 was passed explicitly (by position, after metric 'accuracy', as the contract orders them): any "
        f"gain counts, and the challenger gains {gain:.4f} accuracy; it should be promoted (0 is a margin, not a "
        "missing one: do not replace it with the default 0.01; keep the parameters in the contract's order)")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_an_explicit_zero_margin_promotes_a_tiny_real_gain(registry, mlflow_name, rows_one_apart):
    _champion_then_challenger(registry, mlflow_name, "weak", "best")
    # accuracy 0.49998 for the champion and 0.50002 for the challenger, a real gain of 1/20001.
    rows = rows_one_apart(mlflow_name, 10_000)
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[rows], registry.y_test[rows],
                             metric="accuracy", margin=0) is True, (
        "with margin=0 (an int, as good a number as 0.0) any real gain counts: the challenger scores 0.50002 "
        "accuracy against the champion's 0.49998 on the rows given and should be promoted (compare the scores "
        "themselves, not rounded copies)")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_a_gain_just_above_a_non_zero_margin_is_promoted(registry, mlflow_name, rows_one_apart):
    _champion_then_challenger(registry, mlflow_name, "weak", "best")
    # a real accuracy gain of 1/22727 = 0.0000440005..., a little more than the margin 0.000044.
    rows = rows_one_apart(mlflow_name, 11_363)
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[rows], registry.y_test[rows],
                             metric="accuracy", margin=0.000044) is True, (
        "the challenger gains 1/22727 = 0.0000440005 accuracy on the rows given, more than the margin 0.000044: "
        "it should be promoted (compare the gain itself with the margin, not a rounded copy of it)")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_the_default_margin_is_0_01(registry, mlflow_name, rows_one_apart):
    _champion_then_challenger(registry, mlflow_name, "weak", "best")
    below = rows_one_apart(mlflow_name, 50)  # a real accuracy gain of 1/101 = 0.0099
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[below], registry.y_test[below],
                             metric="accuracy") is False, (
        "the challenger gains 1/101 = 0.0099 accuracy on the rows given, less than the default margin 0.01: "
        "without a margin argument it must not be promoted")
    assert _aliases(registry, mlflow_name).get("champion") == "1", "the champion should stay on version 1"
    above = rows_one_apart(mlflow_name, 49)  # a real accuracy gain of 1/99 = 0.0101
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[above], registry.y_test[above],
                             metric="accuracy") is True, (
        "the challenger gains 1/99 = 0.0101 accuracy on the rows given, more than the default margin 0.01: "
        "without a margin argument it should be promoted (the default margin is 0.01, as the contract says)")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_each_call_scores_both_versions_on_the_rows_it_is_given(registry, mlflow_name, test_side_mlflow):
    _champion_then_challenger(registry, mlflow_name, "good", "best")
    with test_side_mlflow() as mlflow:
        right = [mlflow.sklearn.load_model(f"models:/{mlflow_name}/{v}").predict(registry.X_test) == registry.y_test
                 for v in ("1", "2")]
    only_champion, only_challenger = np.flatnonzero(right[0] & ~right[1]), np.flatnonzero(right[1] & ~right[0])
    # As many rows each time: a score remembered by the rows' shape would be reused.
    count = min(len(only_champion), len(only_challenger))
    assert count, "setup: each version should get some rows the other misses"
    only_champion, only_challenger = only_champion[:count], only_challenger[:count]
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[only_champion],
                             registry.y_test[only_champion], metric="accuracy") is False, (
        "setup: on the rows only the champion gets right, the challenger (0.0) must not be promoted")
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[only_challenger],
                             registry.y_test[only_challenger], metric="accuracy") is True, (
        f"on {count} rows only the challenger gets right it scores 1.0 accuracy against the champion's 0.0: it should "
        f"be promoted. Score both versions on the rows given on every call; the champion's 1.0 from the previous "
        f"call was on other rows (as many of them: {count})")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_a_model_created_again_under_its_old_name_is_scored_afresh(registry, held_out, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "best", "weak")
    assert _promote(registry, mlflow_name) is False, "setup: the weak version 2 must not beat the best champion"
    # A team starts the model over: deleted, then created again, its versions numbered from 1 again.
    _client(registry.tracking_uri).delete_registered_model(mlflow_name)
    _champion_then_challenger(registry, mlflow_name, "weak", "good")
    promoted = _promote(registry, mlflow_name)
    assert promoted is True, (
        f"{mlflow_name!r} was deleted and created again: on the same rows as before, its champion (version 1) is now "
        f"the weak model ({held_out['weak']:.3f}) and its challenger (version 2) the good one ({held_out['good']:.3f}), "
        f"better by far more than the margin, so it should be promoted; got {promoted!r}. Score both versions on "
        "every call: a score kept from an earlier call belongs to the version that had the number then (best or "
        "weak), not to the one that has it now")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_an_unknown_metric_is_a_value_error_and_changes_nothing(registry, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "good", "best")
    with pytest.raises(ValueError):
        _promote(registry, mlflow_name, metric="precision_at_7")
        pytest.fail("metric='precision_at_7' cannot score the champion or the challenger: promote_if_better "
                    "should raise ValueError (as evaluate does), not treat the unscorable champion as beaten")
    aliases = _aliases(registry, mlflow_name)
    assert (aliases.get("champion"), aliases.get("challenger")) == ("1", "2"), (
        f"a promotion that failed with ValueError must change nothing: {aliases}")


def test_a_champion_scoring_zero_is_still_a_champion(registry, mlflow_name, test_side_mlflow):
    _champion_then_challenger(registry, mlflow_name, "good", "best")
    with test_side_mlflow() as mlflow:
        wrong = [mlflow.sklearn.load_model(f"models:/{mlflow_name}/{v}").predict(registry.X_test) != registry.y_test
                 for v in ("1", "2")]
    rows = wrong[0] & wrong[1]
    assert rows.any(), "setup: some rows should be missed by both versions"
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[rows], registry.y_test[rows],
                             metric="accuracy") is False, (
        "on rows both versions get wrong, champion and challenger both score 0.0 accuracy: a tie, so no promotion "
        "(a champion scoring 0.0 is still a champion: do not test the score for truth)")
    aliases = _aliases(registry, mlflow_name)
    assert (aliases.get("champion"), aliases.get("challenger")) == ("1", "2"), f"nothing should change: {aliases}"


def test_a_challenger_that_is_already_champion_is_not_promoted_again(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    _client(registry.tracking_uri).set_registered_model_alias(mlflow_name, "champion", "1")
    assert _promote(registry, mlflow_name) is False, (
        "'champion' and 'challenger' both point at version 1: nothing moves, so promote_if_better should "
        "return False")
    aliases = _aliases(registry, mlflow_name)
    assert (aliases.get("champion"), aliases.get("challenger")) == ("1", "1"), (
        f"when nothing is promoted nothing changes; both aliases should still point at version 1: {aliases}")


@pytest.mark.parametrize("margin", ["float64", "float32", "int64"])
def test_a_numpy_margin_is_a_margin_and_the_answer_is_a_plain_bool(registry, held_out, mlflow_name, margin):
    # A margin tuned in a notebook arrives as a NumPy number.
    margin = {"float64": np.float64(0.01), "float32": np.float32(0.01), "int64": np.int64(0)}[margin]
    _champion_then_challenger(registry, mlflow_name, "good", "weak")
    rejected = _promote(registry, mlflow_name, margin=margin)
    assert rejected is False, (
        f"the weak challenger ({held_out['weak']:.3f}) does not beat the good champion ({held_out['good']:.3f}) by "
        f"margin={margin!r}: promote_if_better should return False, the plain bool (not a numpy.bool_, which json "
        f"and `is False` refuse, and not an error: a NumPy number is a margin too); got {rejected!r} "
        f"({type(rejected).__name__})")
    register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    promoted = _promote(registry, mlflow_name, margin=margin)
    assert promoted is True, (
        f"the best challenger ({held_out['best']:.3f}) beats the good champion ({held_out['good']:.3f}) by more than "
        f"margin={margin!r}: promote_if_better should return True, the plain bool (compare with a NumPy margin gives a "
        f"numpy.bool_: turn the answer into a bool); got {promoted!r} ({type(promoted).__name__})")
    assert _aliases(registry, mlflow_name).get("champion") == "3", "'champion' should move to version 3"


def test_better_but_within_the_margin_is_not_promoted(registry, held_out, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "weak", "good")
    gap = held_out["good"] - held_out["weak"]
    assert _promote(registry, mlflow_name, margin=gap + 0.01) is False, (
        f"the challenger is better by {gap:.3f}, less than the margin {gap + 0.01:.3f}: it must not be promoted")
    assert _aliases(registry, mlflow_name)["champion"] == "1", "the champion should stay on version 1"
    assert _promote(registry, mlflow_name, margin=float("inf")) is False, (
        "an infinite margin is a margin too (not negative, not NaN): no challenger beats the champion by it, so "
        "promote_if_better should return False, not raise ValueError")
    assert _aliases(registry, mlflow_name)["champion"] == "1", "the champion should stay on version 1"
    assert _promote(registry, mlflow_name, margin=gap - 0.01) is True, (
        f"better by {gap:.3f} is more than the margin {gap - 0.01:.3f}: it should be promoted")


@pytest.mark.parametrize("margin", [0, 0.0, np.float32(0)], ids=["int", "float", "numpy-float32"])
def test_with_margin_zero_a_gain_below_a_billionth_is_promoted(registry, mlflow_name, runs_one_pair_apart, margin):
    # ROC AUC on 800,000 negative and 800,000 positive rows: version 2 ranks one pair more right, 1/800000² ≈ 1.6e-12
    # higher, far less than a billionth of the score (what math.isclose would call equal) and than any tolerance a
    # careless comparison adds (1e-9, 1e-10, 1e-12).
    run_ids, X, y, scores = runs_one_pair_apart(800_000)
    assert 0 < scores[1] - scores[0] < 1e-9 * scores[1], f"setup: the scores should be a hair apart: {scores}"
    register_challenger(registry.tracking_uri, run_ids[0], mlflow_name)
    assert promote_if_better(registry.tracking_uri, mlflow_name, X, y) is True, (
        "setup: with no champion yet, the first challenger should be promoted")
    register_challenger(registry.tracking_uri, run_ids[1], mlflow_name)
    promoted = promote_if_better(registry.tracking_uri, mlflow_name, X, y, margin=margin)
    assert promoted is True, (
        f"the challenger scores {scores[1]!r} against the champion's {scores[0]!r}: a real gain of "
        f"{scores[1] - scores[0]:.3g}, and margin={margin!r} means any real gain is enough, so it should be promoted; "
        f"got {promoted!r} (compare the scores themselves, with no tolerance added: a gain this small is not float "
        "noise to round away; and a float32 margin added to a score rounds the score to float32, so turn the "
        "margin into a float first)")
    assert _aliases(registry, mlflow_name).get("champion") == "2", "'champion' should move to version 2"


def test_a_tie_is_not_an_improvement(registry, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "good", "good")
    assert _promote(registry, mlflow_name, margin=0.0) is False, (
        "the same model registered again scores exactly the same: a tie is not better, even with margin 0")


def test_an_undefined_score_is_not_an_improvement(registry, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "weak", "best")
    positives = registry.y_test == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns that ROC AUC is undefined on rows of one class
        try:
            promoted = promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test[positives],
                                         registry.y_test[positives])
        except ValueError:
            promoted = False  # refusing to judge is fine too
    assert promoted is False, (
        "on rows of one class only ROC AUC is undefined (NaN) for both versions; NaN is not more than the "
        "champion's score plus the margin, so nothing should be promoted (ask 'is it more?', not 'is it not at most?')")
    aliases = _aliases(registry, mlflow_name)
    assert (aliases.get("champion"), aliases.get("challenger")) == ("1", "2"), (
        f"when nothing is promoted, 'champion' should stay on 1 and 'challenger' on 2: {aliases}")


def test_judges_on_the_held_out_rows_not_the_runs_own_metric(registry, held_out, mlflow_name):
    _champion_then_challenger(registry, mlflow_name, "good", "overclaimed")
    claimed = _client(registry.tracking_uri).get_run(registry.run_ids["overclaimed"]).data.metrics["roc_auc"]
    assert _promote(registry, mlflow_name) is False, (
        f"the challenger's run claims roc_auc {claimed:.3f} (its training score) but scores "
        f"{held_out['overclaimed']:.3f} on the held-out rows vs the champion's {held_out['good']:.3f}: "
        "evaluate both on the same rows")


def test_without_a_challenger_is_a_lookup_error(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    assert _promote(registry, mlflow_name) is True, "the first challenger should be promoted"
    with pytest.raises(LookupError):
        _promote(registry, mlflow_name)


def test_a_model_with_no_alias_at_all_has_no_challenger(registry, mlflow_name, test_side_mlflow):
    with test_side_mlflow() as mlflow:
        mlflow.register_model(registry.model_uris["good"], mlflow_name)  # a version, but no alias points at it
    with pytest.raises(LookupError):
        _promote(registry, mlflow_name)
        pytest.fail("version 1 carries neither 'challenger' nor 'champion': there is no challenger to promote, so "
                    "promote_if_better should raise LookupError (two missing aliases are not 'the challenger "
                    "already is the champion')")
    assert _aliases(registry, mlflow_name) == {}, "a call refused with LookupError must not set any alias"


def test_with_the_champion_removed_by_hand_the_challenger_is_promoted_unscored(registry, held_out, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    assert _promote(registry, mlflow_name) is True, "setup: the first challenger (best) should become champion"
    # An operator takes the model out of service: no champion at all for a while.
    _client(registry.tracking_uri).delete_registered_model_alias(mlflow_name, "champion")
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    assert _promote(registry, mlflow_name) is True, (
        f"'champion' was removed by hand, so there is no champion to beat: the challenger (version 2, "
        f"{held_out['weak']:.3f}) is promoted however it scores, as with no champion yet; do not measure it against "
        f"the last champion your history recorded (version 1, {held_out['best']:.3f}), which no longer serves")
    aliases = _aliases(registry, mlflow_name)
    assert aliases.get("champion") == "2" and "challenger" not in aliases, (
        f"after the promotion 'champion' should point at version 2 and 'challenger' be gone: {aliases}")


@pytest.mark.parametrize("margin", [-0.1, float("nan")], ids=["negative", "NaN"])
@pytest.mark.parametrize("champion", ["none yet", "the challenger itself", "another version"])
def test_a_negative_or_nan_margin_is_a_value_error(registry, mlflow_name, champion, margin):
    client = _client(registry.tracking_uri)
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    if champion == "the challenger itself":
        client.set_registered_model_alias(mlflow_name, "champion", "1")
    elif champion == "another version":
        client.set_registered_model_alias(mlflow_name, "champion", "1")
        register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    before = (_aliases(registry, mlflow_name), dict(client.get_registered_model(mlflow_name).tags))
    with pytest.raises(ValueError):
        _promote(registry, mlflow_name, margin=margin)
        pytest.fail(f"margin={margin} is not a number zero or more: promote_if_better should raise ValueError on "
                    f"every call (champion: {champion}), not return before it looks at the margin")
    after = (_aliases(registry, mlflow_name), dict(client.get_registered_model(mlflow_name).tags))
    assert after == before, (
        f"a call refused with ValueError must change nothing (aliases, tags): before {before}, after {after}")


def test_a_rejected_challenger_leaves_the_registry_as_it_was(registry, mlflow_name):
    client = _client(registry.tracking_uri)
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    # An operator put version 1 in production by hand; this code has recorded nothing yet.
    client.set_registered_model_alias(mlflow_name, "champion", "1")
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)

    def state():
        model = client.get_registered_model(mlflow_name)
        versions = {str(v.version): dict(client.get_model_version(mlflow_name, v.version).tags)
                    for v in client.search_model_versions(f"name = '{mlflow_name}'")}
        return {"aliases": {a: str(v) for a, v in model.aliases.items()}, "tags": dict(model.tags),
                "version tags": versions}

    before = state()
    assert _promote(registry, mlflow_name) is False, "setup: the weak version 2 must not beat the good champion"
    after = state()
    assert after == before, (
        "a challenger that is not promoted changes nothing: no alias moves and nothing is recorded (the "
        f"champion set by hand is recorded when a promotion replaces it). before: {before}, after: {after}")


def test_promotes_with_aliases_not_the_deprecated_stages(registry, mlflow_name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _champion_then_challenger(registry, mlflow_name, "weak", "best")
        _promote(registry, mlflow_name)
    deprecated = [str(w.message) for w in caught if issubclass(w.category, FutureWarning) and "deprecated" in str(w.message)]
    assert not deprecated, f"registry stages are deprecated since MLflow 2.9; use aliases: {deprecated}"
    stages = {v.version: v.current_stage for v in _client(registry.tracking_uri).search_model_versions(f"name = '{mlflow_name}'")}
    assert set(stages.values()) == {"None"}, f"no version should be moved to a stage: {stages}"
