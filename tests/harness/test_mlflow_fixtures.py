"""The mlflow tier's own behaviour: isolated embedded stores, and a server that never outlives its run.

These run real MLflow: SQLite stores in temporary folders, and real `mlflow server`
processes (one started here directly, one per inner pytest run), checked for leftovers
by the label every server process carries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlops_katas.infra import mlflow_server
import uuid

from mlops_katas.infra.mlflow_env import filled_store, isolated

from .reaping import reaped

pytest_plugins = ("pytester",)
pytestmark = pytest.mark.mlflow


# --- embedded stores ------------------------------------------------------------------------


def test_isolation_restores_mlflow_globals_env_and_folder(mlflow_store_factory, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////nowhere/outer.db")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    before_cwd = os.getcwd()
    store = mlflow_store_factory("isolation")
    with isolated(store):
        assert os.getcwd() == str(store.workdir), "inside, the current folder is the store's empty work folder"
        assert mlflow.get_tracking_uri() == store.default_uri, "inside, MLflow's default store is the decoy"
        mlflow.set_tracking_uri(store.tracking_uri)
        mlflow.set_experiment("left-behind")
        mlflow.start_run()  # left open on purpose, as buggy learner code does
    assert mlflow.active_run() is None, "a run left open inside must be ended on the way out"
    assert os.getcwd() == before_cwd, "the current folder must be restored"
    assert os.environ.get("MLFLOW_TRACKING_URI") == "sqlite:////nowhere/outer.db", "the env var must be restored"
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ, "set_experiment's env var must not leak out"
    assert mlflow.get_tracking_uri() == "sqlite:////nowhere/outer.db", "set_tracking_uri must not leak out"


def test_stores_are_separate_and_report_stray_writes(mlflow_store_factory):
    import mlflow

    first, second = mlflow_store_factory("a"), mlflow_store_factory("b")
    with isolated(first):
        client = mlflow.MlflowClient(first.tracking_uri)
        client.create_experiment("only-in-first", artifact_location=first.artifact_location)
        assert first.stray_writes() == [], "a fresh store has no stray writes"
        (first.workdir / "mlruns").mkdir()
        (first.workdir / "mlruns" / "meta.yaml").write_text("x")
        mlflow.MlflowClient().search_experiments()  # the default store: created on first use
    assert mlflow.MlflowClient(second.tracking_uri).get_experiment_by_name("only-in-first") is None, (
        "each store is its own database")
    stray = first.stray_writes()
    assert any("./mlruns (1 file in the working folder)" in s for s in stray), f"the work folder's files are reported: {stray}"
    assert any("default tracking store" in s for s in stray), f"use of the default store is reported: {stray}"


def test_a_filled_store_is_filled_once_and_each_run_gets_its_own_copy(mlflow_store_factory, request):
    import mlflow

    fills = []

    def fill(built):
        fills.append(built)
        with isolated(built):
            client = mlflow.MlflowClient(built.tracking_uri)
            experiment_id = client.create_experiment("filled", artifact_location=built.artifact_location)
            run = client.create_run(experiment_id)
            client.log_metric(run.info.run_id, "auc", 0.9)
        return {"run_id": run.info.run_id}

    source = f"a fixture's code {uuid.uuid4()}".encode()  # a key no earlier run has used
    first, second = mlflow_store_factory("first"), mlflow_store_factory("second")

    def forget() -> None:  # this test's fills are never used again: leave no cache behind
        for built in fills:
            shutil.rmtree(built.root, ignore_errors=True)
            built.root.with_name(f"{built.root.name}.lock").unlink(missing_ok=True)

    request.addfinalizer(forget)
    made = filled_store(first, source, fill)
    again = filled_store(second, source, fill)
    assert len(fills) == 1 and made == again, "the second store is a copy of the first fill, not a new one"
    for store in (first, second):
        client = mlflow.MlflowClient(store.tracking_uri)
        assert client.get_run(made["run_id"]).data.metrics == {"auc": 0.9}, "each copy holds the filled run"
    mlflow.MlflowClient(first.tracking_uri).create_registered_model("only-in-first")
    assert mlflow.MlflowClient(second.tracking_uri).search_registered_models() == [], "the copies are separate"
    default = mlflow.MlflowClient(second.tracking_uri).get_experiment("0").artifact_location
    assert default == str((second.artifact_root / "0").resolve()), "the Default experiment writes into the copy"
    assert filled_store(mlflow_store_factory("third"), source + b"changed", fill) != made, "other code, another fill"


# --- the server -----------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_server_answers_then_stops_leaving_no_process(tmp_path):
    server = mlflow_server.MlflowServer()
    try:
        server.wait_ready()
        with urllib.request.urlopen(server.url + "/health", timeout=5) as answer:
            assert answer.status == 200, "the server should answer GET /health"
        assert server.url.startswith("http://127.0.0.1:"), "the server listens on loopback only"
        assert mlflow_server.labelled_pids(server.label), "the server's processes carry its label"
    finally:
        server.remove()
    assert mlflow_server.labelled_pids(server.label) == [], "no process of the server may be left"
    assert not server.dir.exists(), "the server's folder is removed"


def test_reap_kills_the_server_of_a_run_that_died(tmp_path):
    folder = mlflow_server.servers_root() / "run-dead-owner"
    folder.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=30, check=True)
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                env={**os.environ, mlflow_server.LABEL_ENV: str(folder)}, start_new_session=True)
    try:
        (folder / "server.json").write_text(json.dumps({"owner_pid": int(dead.stdout), "server_pid": leftover.pid}))
        deadline = time.monotonic() + 10  # reap finds a process by its environment: let it be readable first
        while leftover.pid not in mlflow_server.labelled_pids(str(folder)) and time.monotonic() < deadline:
            time.sleep(0.05)
        removed = mlflow_server.reap()
        assert reaped(folder.name, removed, lambda: not folder.exists()), f"a folder whose owner is gone is reaped: {removed}"
        assert leftover.wait(timeout=10) is not None, "the leftover process is killed"
        assert not folder.exists(), "its folder is removed"
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(timeout=10)


def test_reap_leaves_a_server_made_but_not_yet_started_alone():
    """A run makes its server at collection and starts it later: its folder is owned from the start."""
    server = mlflow_server.MlflowServer()
    try:
        long_ago = time.time() - 600
        os.utime(server.dir, (long_ago, long_ago))
        assert server.dir.name not in mlflow_server.reap(), "a live run's server folder must not be reaped"
        assert server.dir.exists()
    finally:
        server.remove()


def test_reap_leaves_the_server_of_a_live_run_alone():
    folder = mlflow_server.servers_root() / "run-live-owner"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        (folder / "server.json").write_text(json.dumps({"owner_pid": os.getpid(), "server_pid": 0}))
        assert folder.name not in mlflow_server.reap(), "a folder of a live run must not be reaped"
        assert folder.exists()
    finally:
        (folder / "server.json").unlink()
        folder.rmdir()


INNER = """
import pytest

def test_uses_the_server(mlflow_server):
    import urllib.request
    with urllib.request.urlopen(mlflow_server.url + "/health", timeout=5) as answer:
        assert answer.status == 200
    assert False, "fails on purpose"
"""


def _labelled_processes() -> set[str]:
    """The labels (server folders) of every running process that carries one."""
    needle = f"{mlflow_server.LABEL_ENV}=".encode()
    labels = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            labels |= {v[len(needle):].decode() for v in (entry / "environ").read_bytes().split(b"\0")
                       if v.startswith(needle)}
        except OSError:
            continue
    return labels


def _inner_run(pytester, monkeypatch, source: str, *args: str):
    """Run `source` in a pytest of its own, with a temporary folder of its own (other runs may be going on)."""
    pytester.makepyfile(test_inner=source)
    own_tmp = pytester.path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setenv("MLOPS_KATAS_SYSTEM_TMP", str(own_tmp))
    result = pytester.runpytest_subprocess("-p", "mlops_katas.plugin", "-p", "mlops_katas.infra.mlflow_fixtures",
                                           "-p", "no:cacheprovider", "-q", *args, timeout=170)
    servers = own_tmp / mlflow_server.servers_root().name
    left = sorted(p.name for p in servers.iterdir()) if servers.is_dir() else []
    return result, left, servers


@pytest.mark.timeout(180)
def test_a_run_that_needs_the_server_attaches_its_log_and_leaves_nothing(pytester, monkeypatch):
    result, left, servers = _inner_run(pytester, monkeypatch, INNER)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*mlflow server log tail*", "*Uvicorn running on http://127.0.0.1:*"])
    assert servers.is_dir(), "the inner run should have started a server"
    assert not left, f"the inner run's server folder should be gone: {left}"
    leftovers = {label for label in _labelled_processes() if label.startswith(str(servers))}
    assert not leftovers, f"no process of the inner run's server may be left: {leftovers}"


@pytest.mark.timeout(120)
def test_a_run_that_does_not_need_the_server_never_starts_one(pytester, monkeypatch):
    result, _, servers = _inner_run(pytester, monkeypatch, "def test_plain():\n    assert True\n")
    result.assert_outcomes(passed=1)
    assert not servers.exists(), "no server should start for tests that do not ask for one"


USES_THE_GIVEN_SERVER = """
import os
import urllib.request

def test_uses_the_given_server(mlflow_server):
    assert mlflow_server.url == os.environ["GIVEN_SERVER_URL"]
    with urllib.request.urlopen(mlflow_server.url + "/health", timeout=5) as answer:
        assert answer.status == 200
"""


@pytest.mark.timeout(240)
def test_a_run_given_a_running_server_uses_it_and_leaves_it_running(pytester, monkeypatch):
    given = mlflow_server.MlflowServer()
    try:
        given.wait_ready()
        monkeypatch.setenv("GIVEN_SERVER_URL", given.url)
        result, left, _ = _inner_run(pytester, monkeypatch, USES_THE_GIVEN_SERVER, "--mlflow-server-dir", str(given.dir))
        result.assert_outcomes(passed=1)
        assert not left, f"the inner run should start no server of its own: {left}"
        assert given.answers(), "the server the run was given must still answer after the run"
    finally:
        given.remove()
