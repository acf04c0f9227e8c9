"""Task 3: find the best run with the tracking store's own search, not by eye."""

import pytest

from experiment import best_run

pytestmark = [pytest.mark.task(taskno=3), pytest.mark.mlflow, pytest.mark.timeout(240)]


@pytest.fixture
def scored_runs(mlflow_store):
    """Hand-made runs whose metrics disagree on which is best; name -> run id.

    Another experiment in the same store holds a run better on every metric: it must never win.
    """
    import mlflow
    from mlflow.entities import Metric

    def log(run_id, metrics):
        client.log_batch(run_id, metrics=[Metric(key, value, 0, 0) for key, value in metrics.items()])

    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment_id = client.create_experiment("leaderboard", artifact_location=mlflow_store.artifact_location)
    table = {
        "steady": {"accuracy": 0.80, "f1": 0.79, "roc_auc": 0.88, "holdout-auc": 0.84, "neg_log_loss": -0.35, "gain": -0.02},
        "sharp": {"accuracy": 0.84, "f1": 0.70, "roc_auc": 0.86, "holdout-auc": 0.87, "neg_log_loss": -0.41, "gain": 0.0},
        "ranker": {"accuracy": 0.78, "f1": 0.81, "roc_auc": 0.93, "holdout-auc": 0.85, "neg_log_loss": -0.30, "gain": -0.01},
        "baseline": {"accuracy": 0.50, "f1": 0.40, "roc_auc": 0.50, "holdout-auc": 0.50, "neg_log_loss": -0.69, "gain": -0.05},
    }
    other_team = client.create_experiment("leaderboard-other-team", artifact_location=mlflow_store.artifact_location)
    elsewhere = client.create_run(other_team, run_name="elsewhere")
    log(elsewhere.info.run_id, dict.fromkeys(table["steady"], 0.99))
    client.set_terminated(elsewhere.info.run_id)
    ids = {}
    for name, metrics in table.items():
        run = client.create_run(experiment_id, run_name=name)
        log(run.info.run_id, metrics)
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    ids["the other experiment's run"] = elsewhere.info.run_id
    unscored = client.create_run(experiment_id, run_name="crashed-before-scoring")
    client.set_terminated(unscored.info.run_id, status="FAILED")
    return mlflow_store.tracking_uri, client, experiment_id, ids


@pytest.mark.parametrize("metric, winner", [
    ("roc_auc", "ranker"), ("accuracy", "sharp"), ("f1", "ranker"),
    ("holdout-auc", "sharp"),   # a name with a dash: back-quote it in filters and orderings
    ("neg_log_loss", "ranker"),  # every value negative: the highest still wins
    ("gain", "sharp"),           # the best value is exactly 0.0
])
def test_picks_the_run_with_the_highest_metric(scored_runs, metric, winner):
    uri, _, _, ids = scored_runs
    chosen = best_run(uri, "leaderboard", metric=metric)
    names = {run_id: name for name, run_id in ids.items()}
    assert chosen == ids[winner], (
        f"by {metric}, the best run of 'leaderboard' is {winner!r}, not {names.get(chosen, chosen)!r} "
        "(higher is better, whatever the metric's name or sign; only the named experiment's runs count)")


def test_roc_auc_is_the_default_metric(scored_runs):
    uri, _, _, ids = scored_runs
    assert best_run(uri, "leaderboard") == ids["ranker"], "without a metric, best_run should rank by roc_auc"


def test_deleted_runs_do_not_count(scored_runs):
    uri, client, _, ids = scored_runs
    client.delete_run(ids["ranker"])
    assert best_run(uri, "leaderboard") == ids["steady"], (
        "a deleted run should not win; the best remaining run by roc_auc is 'steady'")


def test_a_missing_experiment_is_a_lookup_error(mlflow_store):
    with pytest.raises(LookupError):
        best_run(mlflow_store.tracking_uri, "no-such-experiment")


def test_an_experiment_where_no_run_has_the_metric_is_a_lookup_error(scored_runs):
    uri, _, _, _ = scored_runs
    with pytest.raises(LookupError):
        best_run(uri, "leaderboard", metric="precision")


def _logged(experiment, metric: str) -> dict[str, float]:
    scores = {run_id: model.run.data.metrics.get(metric, float("-inf")) for run_id, model in experiment.models.items()}
    assert scores, ("none of the runs run_experiment returned is in the store at tracking_uri with "
                    "exactly one logged model; task 2's tests say what is missing")
    return scores


def test_best_of_your_experiment_has_the_highest_logged_roc_auc(embedded_experiment):
    scores = _logged(embedded_experiment, "roc_auc")
    chosen = best_run(embedded_experiment.tracking_uri, embedded_experiment.name)
    assert chosen in scores and scores[chosen] == max(scores.values()), (
        f"best_run should pick a run with the top roc_auc of {scores}, not {chosen}")


def test_through_the_server_picks_the_run_with_the_top_accuracy(served_experiment):
    scores = _logged(served_experiment, "accuracy")
    chosen = best_run(served_experiment.tracking_uri, served_experiment.name, metric="accuracy")
    assert chosen in scores and scores[chosen] == max(scores.values()), (
        f"through the server, best_run should pick a run with the top accuracy of {scores}, not {chosen}")
