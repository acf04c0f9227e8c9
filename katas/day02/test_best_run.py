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


def _copy_run(db_path, run_id: str, copies: int) -> None:
    """Add `copies` copies of a run (its row and its metrics, params, tags), each started later.

    Straight into the store's SQLite file: through the API a thousand runs take minutes.
    """
    import sqlite3
    import uuid

    with sqlite3.connect(db_path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if name in ("runs", "metrics", "latest_metrics", "params", "tags")]
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE run_uuid = ?", (run_id,)).fetchall()
            at = columns.index("run_uuid")
            new_rows = []
            for n in range(copies):
                new_id = uuid.UUID(int=n + 1).hex
                for row in rows:
                    row = list(row)
                    row[at] = new_id
                    if table == "runs":
                        row[columns.index("start_time")] += n + 1
                    new_rows.append(row)
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                           new_rows)


def test_finds_the_best_run_among_more_runs_than_one_page_of_results(mlflow_store):
    import mlflow

    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment_id = client.create_experiment("crowded", artifact_location=mlflow_store.artifact_location)
    oldest = client.create_run(experiment_id, run_name="oldest-and-best", start_time=1_000)
    client.log_metric(oldest.info.run_id, "roc_auc", 0.95)
    client.set_terminated(oldest.info.run_id)
    later = client.create_run(experiment_id, run_name="later", start_time=2_000)
    client.log_metric(later.info.run_id, "roc_auc", 0.6)
    client.set_terminated(later.info.run_id)
    _copy_run(mlflow_store.db_path, later.info.run_id, 1_000)   # 1,002 runs, the best one the oldest
    assert best_run(mlflow_store.tracking_uri, "crowded") == oldest.info.run_id, (
        "'crowded' holds 1,002 runs and its best by roc_auc is the oldest one: search_runs returns "
        "1,000 runs a page (newest first), so let the store sort (order_by, max_results=1) instead of "
        "taking the best of the first page")


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
