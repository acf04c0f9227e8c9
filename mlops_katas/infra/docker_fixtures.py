"""The docker tier's pytest plugin: fixtures to build images and run containers in tests.

Mark such tests `@pytest.mark.docker` (the plugin skips them, with the reason, when no
engine answers; `--require docker` fails them instead). Then request:

- `docker_client`: the run's `docker.DockerClient` (session-scoped).
- `docker_base_image`: the name to pass as the `BASE_IMAGE` build arg: `python:3.11-slim`
  when present or pullable, else the local `katas-base/python:3.11-bookworm` made by
  `scripts/build-base-image.sh` (see `images.py`).
- `docker_build(context_dir, dockerfile="Dockerfile", buildargs=None, name="kata")`:
  builds unless an image with the same content hash exists and returns a `BuiltImage`
  (`.tag`, `.id`). `BASE_IMAGE` is added to the build args. A failed build fails the
  test with the tail of the build log. Session-scoped, so module fixtures can use it.
- `docker_run(image, port=8000, env=None, wait_path="/health", wait_s=60, **run_kwargs)`:
  starts a container labelled with this run and test, publishes `port` on
  127.0.0.1 at an ephemeral host port, waits for `GET wait_path` to answer 200 (an
  exited container fails at once with its exit code and log tail; an unhealthy
  HEALTHCHECK fails with its last output), and returns a `RunningContainer` (`.url`,
  `.port`, `.container`, `.logs_tail()`, `.health_log()`). It is removed when the test
  ends, and its log tail is added to the report of a failing test.
- `serving_version(port)` / `remove_named(client, name)`: for tests whose code under
  test starts containers itself (a deploy script, a deployer): the version answering on
  a port, polled with a deadline, and the clean-up by container name.
- `standin_image` / `standin_context`: a tiny stand-in for the day-03 server
  (`docker/standin`: starts in a second; `APP_MODE` healthy, broken, slow, crash or oom;
  `APP_VERSION`, `APP_PORT`), built once, or its folder for code that builds it itself.
- `docker_run_shared(...)`: the same, but one container per module for the same
  arguments (cheaper when several tests only read from it). Call
  `attach_container_logs(request.node, running)` in a function fixture so each failing
  test still gets the log tail.

Example::

    @pytest.mark.docker
    def test_answers(docker_build, docker_run, tmp_path):
        image = docker_build(context, name="day05")
        server = docker_run(image.tag, env={"MODEL_VERSION": "v1"})
        assert requests.get(server.url + "/health", timeout=5).status_code == 200

Containers and networks of a run killed outright (SIGKILL, OOM) are removed at the
start of the next run that selects docker tests; SIGTERM is turned into
KeyboardInterrupt so a cancelled CI job still runs the teardown; at the end of a run
anything still carrying its session label is removed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from . import containers, docker_engine, images
from .containers import RunningContainer

STANDIN = Path(__file__).resolve().parents[2] / "docker" / "standin"


def _required(config: pytest.Config) -> bool:
    return any("docker" in opt.split(",") for opt in config.getoption("require", default=[]) or [])


def _unavailable(config: pytest.Config, reason: str):
    if _required(config):
        pytest.fail(f"docker tier required but unavailable: {reason}", pytrace=False)
    pytest.skip(f"docker tier skipped: {reason}")


def attach_container_logs(item: pytest.Item, running: RunningContainer, title: str = "container log tail") -> None:
    """Add the container's last log lines to `item`'s report if the test fails."""
    from mlops_katas.plugin import add_failure_context

    add_failure_context(item, title, running.logs_tail)


def serving_version(port: int, wait_s: float = 15.0) -> str | None:
    """The `model_version` that `GET /health` on 127.0.0.1:`port` reports, polled until it
    answers 200; fails the test when nothing does within `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                return json.load(answer).get("model_version")
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    pytest.fail(f"nothing answered 200 on port {port} within {wait_s:g} s ({last})", pytrace=False)


def remove_named(client, name: str) -> None:
    """Remove every container whose name contains `name` (what code under test started)."""
    for container in client.containers.list(all=True, filters={"name": name}, ignore_removed=True):
        containers.remove(container)


# --- hooks ------------------------------------------------------------------------------


_previous_sigterm = None


def pytest_configure(config: pytest.Config) -> None:
    """A cancelled CI job sends SIGTERM; as KeyboardInterrupt, pytest still tears fixtures down."""
    global _previous_sigterm
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        _previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _previous_sigterm
    if _previous_sigterm is not None:
        signal.signal(signal.SIGTERM, _previous_sigterm)
        _previous_sigterm = None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    """Reap a killed run's leftovers, only when this run selects docker tests and has an engine."""
    if not any(item.get_closest_marker("docker") for item in items):
        return
    if docker_engine.probe() is not None:
        return
    import docker

    client = docker_engine.get_client()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    try:
        removed = containers.reap(client) + images.prune_cached_images(client)
    except docker.errors.DockerException as exc:  # a clean-up problem must not stop the tests
        removed = []
        if reporter is not None:
            reporter.write_line(f"katas docker: could not remove an earlier run's leftovers: {exc}")
    if removed and reporter is not None:
        reporter.write_line(f"katas docker: removed what an earlier killed run left: {', '.join(removed)}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if docker_engine.connected():
        with contextlib.suppress(Exception):  # a last sweep; the run's outcome is already decided
            containers.reap(docker_engine.get_client(), session=docker_engine.SESSION_ID)


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client(pytestconfig: pytest.Config):
    reason = docker_engine.probe()
    if reason is not None:
        _unavailable(pytestconfig, reason)
    return docker_engine.get_client()


@pytest.fixture(scope="session")
def docker_base_image(pytestconfig: pytest.Config, docker_client) -> str:
    status = images.choose_base_image(docker_client)
    if status.image is None:
        _unavailable(pytestconfig, status.message)
    return status.image


@pytest.fixture(scope="session")
def docker_build(pytestconfig: pytest.Config, docker_client, docker_base_image):
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def progress(line: str) -> None:
        """Build steps reach the terminal as they happen: a first build takes minutes."""
        if reporter is None:
            return
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.write_line(f"  docker build: {line}")
            reporter.flush()

    def build(context_dir, *, dockerfile: str = "Dockerfile", buildargs: dict[str, str] | None = None,
              name: str = "kata") -> images.BuiltImage:
        args = {"BASE_IMAGE": docker_base_image, **(buildargs or {})}
        try:
            return images.build_image(context_dir, dockerfile=dockerfile, buildargs=args, name=name,
                                      progress=progress, client=docker_client)
        except images.ImageBuildFailed as exc:
            pytest.fail(str(exc), pytrace=False)

    return build


@pytest.fixture(scope="session")
def standin_context() -> Path:
    """The build context of the stand-in model server (`docker/standin`), for tests whose
    code under test runs `docker build` itself."""
    return STANDIN


@pytest.fixture(scope="session")
def standin_image(docker_build) -> str:
    """The stand-in model server, built once (cached by content); `APP_MODE` picks its behaviour."""
    return docker_build(STANDIN, name="standin").tag


def _starter(request: pytest.FixtureRequest, docker_client, stack: contextlib.ExitStack):
    def start(image: str, **kwargs) -> RunningContainer:
        kwargs.setdefault("test", request.node.nodeid)
        try:
            running = stack.enter_context(containers.run_container(image, client=docker_client, **kwargs))
        except containers.ContainerFailed as exc:
            pytest.fail(f"container of {image}: {exc}", pytrace=False)
        if isinstance(request.node, pytest.Item):
            attach_container_logs(request.node, running)
        return running

    return start


@pytest.fixture
def docker_run(request: pytest.FixtureRequest, docker_client):
    with contextlib.ExitStack() as stack:
        yield _starter(request, docker_client, stack)


@pytest.fixture(scope="module")
def docker_run_shared(request: pytest.FixtureRequest, docker_client):
    started: dict[str, RunningContainer | BaseException] = {}
    with contextlib.ExitStack() as stack:
        start = _starter(request, docker_client, stack)

        def shared(image: str, **kwargs) -> RunningContainer:
            key = repr((image, sorted(kwargs.items())))
            if key not in started:
                try:
                    started[key] = start(image, **kwargs)
                except (Exception, pytest.fail.Exception) as exc:  # fail the module's tests alike, once
                    started[key] = exc
            found = started[key]
            if isinstance(found, BaseException):
                raise found
            return found

        yield shared
