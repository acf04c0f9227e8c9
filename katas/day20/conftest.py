"""Day 20 fixtures: unreachable, unresponsive and never-connecting 'Redis' endpoints for the failure paths.

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
        try:  # wakes the accept loop now rather than at its next 0.1 s poll
            held.append(socket.create_connection(listener.getsockname(), timeout=5))
        except OSError:
            pass
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


@pytest.fixture
def unconnectable_redis_url():
    """A Redis URL whose server never completes a TCP connection: its accept queue is full.

    The listener never accepts; one connection fills its queue (backlog 0), so the kernel
    ignores every further SYN and a client's connect() waits until its own timeout.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    filler = socket.create_connection(address, timeout=5)
    probe = socket.socket()
    probe.settimeout(0.05)  # on loopback a connection completes or is refused at once, or never
    try:
        probe.connect(address)
        hangs = False
    except TimeoutError:
        hangs = True  # as intended
    except OSError:
        hangs = False  # refused instead: not what this fixture is for
    finally:
        probe.close()
    try:
        if not hangs:
            pytest.skip("this kernel completes connections beyond a full accept queue")
        yield f"redis://127.0.0.1:{address[1]}/0"
    finally:
        filler.close()
        listener.close()
