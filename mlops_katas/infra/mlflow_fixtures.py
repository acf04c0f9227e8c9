"""The mlflow tier's pytest plugin: real MLflow stores and a real tracking server for tests.

Mark such tests `@pytest.mark.mlflow`, then request:

- `mlflow_store`: a fresh embedded store for this test (`MlflowStore`: `.tracking_uri`
  is `sqlite:///…/mlflow.db`, `.artifact_location` a folder for experiments' artifacts,
  `.workdir`, `.stray_writes()`). While the test runs, MLflow's process defaults and
  the current folder point into the store's temporary folder (see `mlflow_env.isolated`),
  so nothing lands in the learner's checkout; afterwards every global is restored.
- `mlflow_store_factory(name)`: a new store for module-scoped fixtures that share
  trained models between tests; wrap calls into learner code in
  `mlflow_env.isolated(store)`.
- `mlflow_server`: the run's `mlflow server` (`MlflowServer`: `.url`, `.log_tail()`),
  session-scoped, SQLite backend, artifacts proxied to a local folder. It is started
  only if a selected test needs it, launched as soon as collection is done (so its
  start-up overlaps the tests that run first) and waited on when first requested. Its
  log tail is added to the report of every failing test that requests it, directly or
  through its fixtures. It is stopped at the end of the run (SIGTERM to its process
  group, then SIGKILL); a killed run's server is reaped by the next run.
- `mlflow_name`: a name unique to this test, for experiments and registered models on
  the shared server.

Stores start as copies of one migrated empty database, cached per MLflow version in
the system's temporary folder. mlflow is imported only by the fixtures that need it,
never when this plugin loads.

`--mlflow-server-dir DIR` makes the run use a server another process started in DIR and
keeps running (the self-check shares one among a worker's day runs: a start costs ten
seconds of CPU); tests see no difference, as they already share the run's server.
"""

from __future__ import annotations

import atexit
import re
import uuid
from pathlib import Path

import pytest

from . import mlflow_server as server_mod
from .mlflow_env import MlflowStore, cached_template, isolated, new_store, template_path

SERVER_FIXTURE = "mlflow_server"
_server: server_mod.MlflowServer | None = None


def _get_server(config: pytest.Config) -> server_mod.MlflowServer:
    global _server
    if _server is None and config.getoption("mlflow_server_dir"):
        _server = server_mod.MlflowServer.attach(Path(config.getoption("mlflow_server_dir")))
    if _server is None:
        server_mod.reap()
        _server = server_mod.MlflowServer(template=template_path())
        atexit.register(_stop_server)  # also when pytest itself dies of an exception
    return _server


def _stop_server() -> None:
    global _server
    if _server is not None:
        _server.remove()
        _server = None


# --- hooks ------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("katas").addoption(
        "--mlflow-server-dir", default=None, metavar="DIR",
        help="use the mlflow server another process runs from DIR instead of starting one (the self-check does)")


def pytest_configure(config: pytest.Config) -> None:
    # MLflow 3.17's SQL store uses an SQLAlchemy loader option SQLAlchemy has deprecated;
    # the warning is about MLflow's code, not the learner's, so it stays out of reports.
    config.addinivalue_line("filterwarnings", "ignore:The ``noload`` loader strategy is deprecated")


def _needs_server(item: pytest.Item) -> bool:
    """Does the test use the server, and can it get past the stubs to need it?"""
    from mlops_katas.plugin import not_started_message

    return SERVER_FIXTURE in getattr(item, "fixturenames", ()) and not_started_message(item) is None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Launch the server now (not waiting for it) if any selected test will use it."""
    if session.config.option.collectonly:
        return
    if any(_needs_server(item) for item in session.items):
        _get_server(session.config).start()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if SERVER_FIXTURE in getattr(item, "fixturenames", ()):
        from mlops_katas.learner import StubNotDone
        from mlops_katas.plugin import add_failure_context, not_started_message

        message = not_started_message(item)
        if message is not None:  # it would fail at the stub: no server is started for it
            raise StubNotDone(message)

        add_failure_context(item, "mlflow server log tail",
                            lambda: _server.log_tail() if _server is not None else "(no server was started)")


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_server()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_store_factory(tmp_path_factory: pytest.TempPathFactory):
    def make(name: str = "store") -> MlflowStore:
        return new_store(tmp_path_factory.mktemp(_safe(name)), cached_template())

    return make


@pytest.fixture
def mlflow_store(mlflow_store_factory, request: pytest.FixtureRequest):
    store = mlflow_store_factory(request.node.name)
    with isolated(store):
        yield store


@pytest.fixture(scope="session")
def mlflow_server(pytestconfig: pytest.Config) -> server_mod.MlflowServer:
    from .mlflow_requirements import install

    install()  # learner code logs models to the server from this process
    server = _get_server(pytestconfig)
    try:
        server.wait_ready()
    except server_mod.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    return server


@pytest.fixture
def mlflow_name(request: pytest.FixtureRequest) -> str:
    return f"{_safe(request.node.name)[:40]}-{uuid.uuid4().hex[:8]}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "store"
