"""pytest-docker's fixtures, made safe for the course (see `compose.py`).

Overrides pytest-docker's fixtures of the same names, so a test that asks for
`docker_services` gets a stack that:

- skips with a reason (or fails under `--require docker`) without an engine or without
  the `docker-compose` command, instead of erroring;
- runs `docker-compose` (Debian's 1.29), `up -d` (1.29 has no `--wait`: wait with
  `docker_services.wait_until_responsive`), and `down -v --remove-orphans` afterwards;
- is named `katas-<tag>-<session>-<pid>-<start>` (`docker_compose_project_name`), so a
  killed run's stack is reaped by the next run (`compose.reap`);
- is removed also when `up` fails or is interrupted.

A day overrides `docker_compose_file` (and `docker_setup` to start only some services,
`docker_compose_env` for the `--env-file` values) in its conftest.
"""

from __future__ import annotations

import contextlib

import pytest

from . import compose, docker_engine
from .docker_fixtures import _unavailable

_reaped = False


@pytest.fixture(scope="session")
def docker_compose_command(docker_client, pytestconfig) -> str:
    reason = compose.probe()
    if reason is not None:
        _unavailable(pytestconfig, reason)
    global _reaped
    if not _reaped:
        _reaped = True
        with contextlib.suppress(Exception):  # a clean-up problem must not stop the tests
            compose.reap(docker_client)
    return compose.COMPOSE_COMMAND


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return compose.project_name("stack")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up -d"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v --remove-orphans"]


@pytest.fixture(scope="session")
def docker_compose_env() -> dict[str, str]:
    """Values for the compose file's `${VARIABLES}`, passed with `--env-file`."""
    return {}


@pytest.fixture(scope="session")
def docker_services(docker_client, docker_compose_command, docker_compose_file, docker_compose_project_name,
                    docker_setup, docker_cleanup, docker_compose_env, tmp_path_factory):
    command = docker_compose_command
    if docker_compose_env:
        command = compose.with_env_file(command, tmp_path_factory.mktemp("compose") / "stack.env",
                                        docker_compose_env)
    with compose.stack(command, docker_compose_file, docker_compose_project_name, docker_setup, docker_cleanup,
                       client=docker_client) as services:
        yield services


def pytest_sessionfinish(session: pytest.Session) -> None:
    if docker_engine.connected():
        with contextlib.suppress(Exception):  # a last sweep; the run's outcome is already decided
            compose.reap(docker_engine.get_client(), session=docker_engine.SESSION_ID)
