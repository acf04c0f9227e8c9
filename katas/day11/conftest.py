"""Day 11 fixtures: a clock the test moves, a fresh database file, real HTTP and SMTP servers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_katas.infra.http_server import ControlledServer
from mlops_katas.infra.smtp import SmtpSink

START = 1_700_000_000.0  # a fixed epoch second, far from 0 so wall-clock mix-ups show


class FakeClock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


class _BodyRecorder(BaseHTTPRequestHandler):
    """Answers `/predict` like a healthy model and keeps each request's path and JSON body."""

    server: "BodyRecordingServer"

    def log_message(self, format, *args):
        return

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        self.server.seen.append((self.path, self.headers.get("Content-Type", ""), body))
        data = json.dumps({"predictions": [0], "model_version": "test-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class BodyRecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BodyRecorder)
        self.seen: list[tuple[str, str, object]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture
def recording_server():
    """A healthy model server that also shows the test what the probe sent."""
    server = BodyRecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that keeps every message it accepts."""
    with SmtpSink() as sink:
        yield sink
