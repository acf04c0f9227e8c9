"""Day 11 fixtures: a clock the test moves, a fresh database file, real HTTP and SMTP servers."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from mlops_katas.fakes import FakeClock
from mlops_katas.infra.http_server import ControlledServer, free_port
from mlops_katas.infra.smtp import SmtpSink


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def make_clock():
    """For hypothesis tests, which need a fresh clock per example."""
    return FakeClock


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "performance.db")


@pytest.fixture
def model_server():
    """A real model server on loopback; the test makes it healthy, failing or slow."""
    with ControlledServer() as server:
        yield server


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that keeps every message it accepts."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def port_that_never_accepts():
    """A loopback port whose connection attempts time out, as with a host that drops them.

    The listener's accept queue is full (a backlog of 0, already taken, never accepted), so the kernel
    drops further connection attempts and the client's connect times out.
    """
    with socket.socket() as listener, ExitStack() as held:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(8):
            attempt = held.enter_context(socket.socket())
            attempt.settimeout(0.3)
            try:
                attempt.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.skip("this kernel accepts connections beyond a full backlog; no connect timeout to test")
        yield port


@pytest.fixture
def refused_port(monkeypatch):
    """A loopback port nothing listens on (`.port`), and every connection attempt made to it (`.attempts`)."""
    refused = SimpleNamespace(port=free_port(), attempts=[])
    connect = socket.socket.connect

    def counting_connect(sock, address, *args, **kwargs):
        if isinstance(address, tuple) and address[1:2] == (refused.port,):
            refused.attempts.append(address)
        return connect(sock, address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", counting_connect)
    return refused


@pytest.fixture
def unresolvable(monkeypatch):
    """`unresolvable(name)` makes looking `name` up fail, as when DNS is down at 3 a.m.: socket.gaierror, an
    OSError that is neither a ConnectionError nor a timeout. Returns the name."""
    names = set()
    lookup = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def make(name: str) -> str:
        names.add(name)
        return name

    return make
