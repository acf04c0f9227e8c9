"""Task 3: find the best run with the tracking store's own search, not by eye."""

import contextlib
import sqlite3

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
        "steady": {"accuracy": 0.80, "f1": 0.79, "roc_auc": 0.88, "holdout-auc": 0.84, "neg_log_loss": -0.35, "gain": -0.02,
                   "eval/auc": 0.91, "neg_mse": -850.0, "neg_sse": -3.5e20, "neg_scaled_sse": -3.0e307,
                   "F1": 0.83, "Val AUC: holdout": 0.90},
        "sharp": {"accuracy": 0.84, "f1": 0.70, "roc_auc": 0.86, "holdout-auc": 0.87, "neg_log_loss": -0.41, "gain": 0.0,
                  "eval/auc": 0.83, "neg_mse": -1200.0, "neg_sse": -2.0e20, "neg_scaled_sse": -6.0e307,
                  "F1": 0.86, "Val AUC: holdout": 0.82},
        "ranker": {"accuracy": 0.78, "f1": 0.81, "roc_auc": 0.93, "holdout-auc": 0.85, "neg_log_loss": -0.30, "gain": -0.01,
                   "eval/auc": 0.89, "neg_mse": -990.0, "neg_sse": -2.6e20, "neg_scaled_sse": -4.0e306,
                   "F1": 0.80, "Val AUC: holdout": 0.87},
        "baseline": {"accuracy": 0.50, "f1": 0.40, "roc_auc": 0.50, "holdout-auc": 0.50, "neg_log_loss": -0.69, "gain": -0.05,
                     "eval/auc": 0.50, "neg_mse": -25000.0, "neg_sse": -7.0e21, "neg_scaled_sse": -9.0e307,
                     "F1": 0.45, "Val AUC: holdout": 0.50},
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
    ("eval/auc", "steady"),     # a slash (as Keras and Lightning name metrics): back-quote every name
    ("neg_log_loss", "ranker"),  # every value negative: the highest still wins
    ("neg_mse", "steady"),       # every value far below -1 (a negated squared error): no floor but MLflow's own
    ("neg_sse", "sharp"),        # every value below any round floor (-1e9, -1e15): still no floor but MLflow's own
    ("neg_scaled_sse", "ranker"),  # every value below -1e300 (float32's lowest is -3.4e38): MLflow's floor is -1e308
    ("gain", "sharp"),           # the best value is exactly 0.0
    ("F1", "sharp"),             # another metric than "f1" (won by 'ranker'): names are taken exactly as given
    ("Val AUC: holdout", "steady"),  # capitals, spaces and a colon: MLflow accepts them in metric names
])
def test_picks_the_run_with_the_highest_metric(scored_runs, metric, winner):
    uri, _, _, ids = scored_runs
    chosen = best_run(uri, "leaderboard", metric=metric)
    names = {run_id: name for name, run_id in ids.items()}
    assert chosen == ids[winner], (
        f"by {metric}, the best run of 'leaderboard' is {winner!r}, not {names.get(chosen, chosen)!r} "
        "(higher is better, whatever the metric's name or sign: any name MLflow accepts, exactly as given, "
        "never case-folded, stripped or refused; only the named experiment's runs count)")


def test_roc_auc_is_the_default_metric(scored_runs):
    uri, _, _, ids = scored_runs
    assert best_run(uri, "leaderboard") == ids["ranker"], "without a metric, best_run should rank by roc_auc"


def test_deleted_runs_do_not_count(scored_runs):
    uri, client, _, ids = scored_runs
    assert best_run(uri, "leaderboard") == ids["ranker"], "before any deletion, the best run by roc_auc is 'ranker'"
    client.delete_run(ids["ranker"])
    assert best_run(uri, "leaderboard") == ids["steady"], (
        "once 'ranker' is deleted, the best remaining run by roc_auc is 'steady': a second call asks the "
        "store again (no remembered answer) and a deleted run does not win")


@pytest.mark.parametrize("status", ["FAILED", "KILLED", "RUNNING"])
def test_a_run_that_logged_the_metric_counts_whatever_its_status(scored_runs, status):
    uri, client, experiment_id, ids = scored_runs
    interrupted = client.create_run(experiment_id, run_name=f"scored-then-{status.lower()}")
    client.log_metric(interrupted.info.run_id, "roc_auc", 0.97)
    if status != "RUNNING":
        client.set_terminated(interrupted.info.run_id, status=status)
    assert best_run(uri, "leaderboard") == interrupted.info.run_id, (
        f"a run that logged roc_auc=0.97 and is {status} still counts (only deleted runs and runs that never "
        "logged the metric do not): do not filter on the run's status")


@pytest.mark.parametrize("name", ["ana's churn models", 'the "final" churn models'])
def test_an_experiment_name_with_a_quote_is_found(mlflow_store, name):
    import mlflow

    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    experiment_id = client.create_experiment(name, artifact_location=mlflow_store.artifact_location)
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "roc_auc", 0.7)
    client.set_terminated(run.info.run_id)
    assert best_run(mlflow_store.tracking_uri, name) == run.info.run_id, (
        f"MLflow accepts any experiment name, quotes of either kind included ({name!r}): look it up by name "
        "(get_experiment_by_name), not by pasting it into a filter string")


@pytest.mark.parametrize("name", ["leaderboard ", " leaderboard", "Leaderboard"])
def test_the_experiment_name_is_taken_exactly_as_given(scored_runs, name):
    uri, client, experiment_id, ids = scored_runs
    location = client.get_experiment(experiment_id).artifact_location
    lookalike = client.create_experiment(name, artifact_location=location)
    run = client.create_run(lookalike, run_name="lookalike")
    client.log_metric(run.info.run_id, "roc_auc", 0.6)
    client.set_terminated(run.info.run_id)
    assert best_run(uri, name) == run.info.run_id, (
        f"the store holds an experiment named {name!r} with a single run: best_run({name!r}) should return it, "
        "not the best run of 'leaderboard' (MLflow keeps names apart by spaces and capitals: never strip or "
        "case-fold the experiment name)")
    assert best_run(uri, "leaderboard") == ids["ranker"], (
        f"an experiment named {name!r} is another experiment: the best run of 'leaderboard' is still 'ranker'")


def test_each_call_looks_the_experiment_up_afresh(scored_runs):
    uri, client, experiment_id, ids = scored_runs
    assert best_run(uri, "leaderboard") == ids["ranker"], "the best run of 'leaderboard' by roc_auc is 'ranker'"
    location = client.get_experiment(experiment_id).artifact_location
    client.rename_experiment(experiment_id, "leaderboard-last-quarter")
    replacement = client.create_experiment("leaderboard", artifact_location=location)
    run = client.create_run(replacement, run_name="new-season")
    client.log_metric(run.info.run_id, "roc_auc", 0.6)
    client.set_terminated(run.info.run_id)
    assert best_run(uri, "leaderboard") == run.info.run_id, (
        "the old 'leaderboard' experiment was renamed and a new one of that name holds a single run: best_run "
        "should find it, as every call asks the store afresh (no experiment id remembered from an earlier call)")


def test_a_missing_experiment_is_a_lookup_error(mlflow_store):
    with pytest.raises(LookupError):
        best_run(mlflow_store.tracking_uri, "no-such-experiment")


def test_asking_about_a_missing_experiment_does_not_create_it(mlflow_store):
    import mlflow

    with pytest.raises(LookupError):
        best_run(mlflow_store.tracking_uri, "never-created")
    client = mlflow.MlflowClient(mlflow_store.tracking_uri)
    assert client.get_experiment_by_name("never-created") is None, (
        "best_run only reads the store: after asking about the missing experiment 'never-created' the store "
        "holds an experiment of that name; look it up (get_experiment_by_name), do not set_experiment it")


def _store_contents(db_path) -> list[str]:
    """Every row of every table of the store's SQLite file, as SQL statements."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return list(db.iterdump())


def test_finding_the_best_run_leaves_the_store_as_it_was(scored_runs, mlflow_store):
    uri, _, _, ids = scored_runs
    before = _store_contents(mlflow_store.db_path)
    assert best_run(uri, "leaderboard") == ids["ranker"], "the best run of 'leaderboard' by roc_auc is 'ranker'"
    assert best_run(uri, "leaderboard", metric="accuracy") == ids["sharp"], "by accuracy it is 'sharp'"
    after = _store_contents(mlflow_store.db_path)
    written = sorted(set(after) ^ set(before))
    assert not written, (
        f"best_run changed the store while looking for the best run ({len(written)} rows differ, e.g. "
        f"{written[0][:160]}): best_run only reads; record nothing (no tag on the winning run or on the "
        "experiment, no run of its own), so that asking twice, or asking a read-only replica, is safe")


def error_raised_by(call) -> Exception:
    """The exception `call()` must raise; the stub's NotImplementedError is raised again (the task is not done)."""
    with pytest.raises(Exception) as raised:
        call()
    if isinstance(raised.value, NotImplementedError):
        raise raised.value   # the stub: not written yet
    return raised.value


def test_a_store_that_cannot_be_reached_is_not_reported_as_a_missing_experiment(monkeypatch):
    import socket

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")   # fail at once, no back-off
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as taken:   # a port bound but not listening: every connection is refused
        taken.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{taken.getsockname()[1]}"
        error = error_raised_by(lambda: best_run(down, "leaderboard"))
    assert not isinstance(error, LookupError), (
        f"best_run against a tracking server that is down raised {type(error).__name__}: "
        "LookupError means 'no such experiment or metric'; a store that cannot be read is another "
        "failure and should propagate (e.g. MlflowException), not be reported as 'nothing there'")
    from mlflow.exceptions import MlflowException

    assert isinstance(error, MlflowException), (
        f"best_run against a tracking server that is down raised {type(error).__name__}: {error}; MLflow's client "
        "raises an MlflowException there: let it propagate as it is (do not wrap it in another type)")


def test_a_store_whose_runs_cannot_be_read_is_not_reported_as_a_missing_metric(scored_runs, mlflow_store):
    import sqlite3

    uri, client, experiment_id, _ = scored_runs
    # The experiment is still there, but the table of runs cannot be read (a broken or half-migrated database).
    with sqlite3.connect(mlflow_store.db_path) as db:
        db.execute("ALTER TABLE runs RENAME TO runs_unreadable")
    assert client.get_experiment(experiment_id).name == "leaderboard", "the experiment itself is still readable"
    error = error_raised_by(lambda: best_run(uri, "leaderboard"))
    assert not isinstance(error, LookupError), (
        f"the experiment 'leaderboard' exists but its runs cannot be read (the runs table is gone), and best_run "
        f"raised {type(error).__name__}: LookupError means 'no such experiment, or no run logged the "
        "metric'; a search that fails is another failure and should propagate as it is (do not turn the "
        "search's MlflowException into LookupError)")
    from mlflow.exceptions import MlflowException

    assert isinstance(error, MlflowException), (
        f"the search of the runs of 'leaderboard' failed in the store with an MlflowException, and best_run raised "
        f"{type(error).__name__}: {error}; let the store's own error propagate as it is (do not wrap it in "
        "another type: a caller that handles MlflowException would miss it)")


@pytest.mark.parametrize("metric", [
    "precision",
    "roc_auc ", " roc_auc",   # other names than "roc_auc" (MLflow keeps the spaces): taken exactly as given, never stripped
])
def test_an_experiment_where_no_run_has_the_metric_is_a_lookup_error(scored_runs, metric):
    uri, _, _, ids = scored_runs
    names = {run_id: name for name, run_id in ids.items()}
    try:
        chosen = best_run(uri, "leaderboard", metric=metric)
    except LookupError:
        return
    pytest.fail(f"no run of 'leaderboard' logged a metric named {metric!r}, yet best_run returned run "
                f"{names.get(chosen, chosen)!r} instead of raising LookupError: take the metric name exactly as "
                "given (never strip or case-fold it: MLflow keeps 'roc_auc ' and 'roc_auc' apart)")


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


@pytest.fixture
def crowded(mlflow_store):
    """An experiment of 1,002 runs whose best by roc_auc is the oldest; (tracking uri, best run id)."""
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
    return mlflow_store.tracking_uri, oldest.info.run_id


def test_finds_the_best_run_among_more_runs_than_one_page_of_results(crowded):
    uri, best = crowded
    assert best_run(uri, "crowded") == best, (
        "'crowded' holds 1,002 runs and its best by roc_auc is the oldest one: search_runs returns "
        "1,000 runs a page (newest first), so let the store sort (order_by, max_results=1) instead of "
        "taking the best of the first page")


def test_lets_the_store_sort_instead_of_downloading_every_run(crowded, monkeypatch):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri, best = crowded
    search, fetched = SqlAlchemyStore._search_runs, []

    def counted(self, *args, **kwargs):
        runs, token = search(self, *args, **kwargs)
        fetched.append(len(runs))
        return runs, token

    monkeypatch.setattr(SqlAlchemyStore, "_search_runs", counted)
    assert best_run(uri, "crowded") == best, "the best run of 'crowded' by roc_auc is its oldest run"
    assert sum(fetched) <= 100, (
        f"best_run fetched {sum(fetched)} of the 1,002 runs of 'crowded' to return one: ask the store for the "
        "top run (search_runs with order_by and max_results=1) instead of downloading the runs and sorting "
        "them yourself (a team server holds thousands)")


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
