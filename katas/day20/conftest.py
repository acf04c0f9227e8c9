"""Day 20 fixtures: unreachable and unresponsive 'Redis' endpoints for the failure paths.

The real Redis server for the redis tier is the harness's `redis_server` fixture.
"""

from __future__ import annotations

import socket
import threading

import pytest

from mlops_katas.infra.http_server import free_port


@pytest.fixture
def closed_redis_url() -> str:
    """A Redis URL on a loopback port nobody listens on: every connection is refused."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def hung_redis_url():
    """A Redis URL whose server accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, name="hung-redis", daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()
