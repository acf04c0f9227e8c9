"""Fixtures for the redis and prometheus tiers: real servers on loopback, one per test.

- `redis_server`: a fresh `RedisServer` for the test (no state shared between tests);
  its `url` is what a learner's client connects to. The test must carry
  `@pytest.mark.redis` so a machine without redis-server skips it with a reason.
- `start_prometheus` / `start_alertmanager`: factories for `PrometheusServer` and
  `AlertmanagerServer` (config text in, started server out), stopped at the test's end.

Servers left by a killed run are reaped once per run, before the first one starts.
A failing test's report carries the log tail of every server it started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from . import local_server
from .prometheus import AlertmanagerServer, PrometheusServer
from .redis_server import RedisServer

_reaped = False


def _reap_once() -> None:
    global _reaped
    if not _reaped:
        local_server.reap()
        _reaped = True


def _attach_logs(request: pytest.FixtureRequest, servers: list[local_server.LocalServer]) -> None:
    from ..plugin import add_failure_context

    for server in servers:
        add_failure_context(request.node, f"{server.kind} log (last lines)", server.log_tail)


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    _reap_once()
    with RedisServer() as server:
        _attach_logs(request, [server])
        yield server


def _servers(request: pytest.FixtureRequest, make: Callable[..., local_server.LocalServer]):
    """Yield a `start(...)` factory; every server it started is removed afterwards."""
    _reap_once()
    started: list[local_server.LocalServer] = []

    def start(*args, **kwargs):
        server = make(*args, **kwargs)
        server.__enter__()
        started.append(server)
        _attach_logs(request, [server])
        return server

    try:
        yield start
    finally:
        for server in started:
            server.remove()


@pytest.fixture
def start_prometheus(request: pytest.FixtureRequest) -> Iterator[Callable[..., PrometheusServer]]:
    yield from _servers(request, PrometheusServer)


@pytest.fixture
def start_alertmanager(request: pytest.FixtureRequest) -> Iterator[Callable[..., AlertmanagerServer]]:
    yield from _servers(request, AlertmanagerServer)
