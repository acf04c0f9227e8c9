"""Day 11 fixtures: a clock the test moves, a fresh database file, real HTTP and SMTP servers."""

from __future__ import annotations

import pytest

from mlops_katas.fakes import FakeClock
from mlops_katas.infra.http_server import ControlledServer
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
