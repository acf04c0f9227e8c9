"""Day 20 fixtures: unreachable, unresponsive and never-connecting 'Redis' endpoints for the failure
paths, and a pass-through proxy to a real Redis that makes a race happen on purpose.

The real Redis server for the redis tier is the harness's `redis_server` fixture.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

from mlops_katas.infra.http_server import free_port


@pytest.fixture
def closed_redis_url() -> str:
    """A Redis URL on a loopback port nobody listens on: every connection is refused."""
    return f"redis://127.0.0.1:{free_port()}/0"


class SilentRedis:
    """A 'Redis' at `url` on a loopback port that accepts every connection and never says a byte.

    `drop=False` holds each connection open, unanswered (a Redis that does not answer);
    `drop=True` closes each one at once (a Redis that has gone away behind a load balancer).
    `connections()` counts the connections made to it.
    """

    def __init__(self, *, drop: bool) -> None:
        self.drop = drop
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self._accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-redis", daemon=True)
        self._thread.start()

    def connections(self) -> int:
        return self._accepted

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._accepted += 1
            if self.drop:
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()


@pytest.fixture
def hung_redis():
    """A server that accepts connections and never answers a byte (see `SilentRedis`)."""
    server = SilentRedis(drop=False)
    yield server
    server.close()


@pytest.fixture
def hung_redis_url(hung_redis) -> str:
    """A Redis URL whose server accepts connections and never answers a byte."""
    return hung_redis.url


@pytest.fixture
def dropping_redis():
    """A server that accepts every connection and hangs up at once (see `SilentRedis`)."""
    server = SilentRedis(drop=True)
    yield server
    server.close()


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


# Commands that commit a write, or make one: the race is staged just before the first of them.
COMMITS = {b"EXEC", b"EVAL", b"EVALSHA", b"EVAL_RO", b"FCALL", b"SET", b"HSET", b"HMSET", b"MSET"}


def _commands(buffer: bytearray) -> list[tuple[bytes, bytes]]:
    """Complete RESP commands (name upper-cased, raw bytes) taken from the front of `buffer`."""
    found = []
    while buffer.startswith(b"*"):
        end = buffer.find(b"\r\n")
        if end < 0:
            break
        count, pos, args = int(buffer[1:end]), end + 2, []
        for _ in range(count):
            end = buffer.find(b"\r\n", pos)
            if end < 0 or len(buffer) < end + 2 + int(buffer[pos + 1:end]) + 2:
                return found
            size = int(buffer[pos + 1:end])
            args.append(bytes(buffer[end + 2:end + 2 + size]))
            pos = end + 2 + size + 2
        found.append((args[0].upper() if args else b"", bytes(buffer[:pos])))
        del buffer[:pos]
    return found


class RacingRedis:
    """Forwards every byte between a client and a real Redis, unchanged; `before_commit(action)`
    runs `action` once, just before the first command that commits a write (EXEC, EVALSHA, HSET...)
    reaches Redis: another client's write lands between the store's read and its write."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("redis://").split("/")[0].split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.fired = threading.Event()
        self.error: BaseException | None = None
        self._action: Callable[[], object] | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self.listener]
        self._threads = [threading.Thread(target=self._accept, name="racing-redis", daemon=True)]
        self._threads[0].start()

    def before_commit(self, action: Callable[[], object]) -> None:
        self._action = action

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                return
            server.settimeout(None)
            self._sockets += [client, server]
            for job in (lambda: self._to_redis(client, server), lambda: self._pump(server, client)):
                self._threads.append(threading.Thread(target=job, daemon=True))
                self._threads[-1].start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._answered(sink)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def _to_redis(self, client: socket.socket, server: socket.socket) -> None:
        buffer = bytearray()
        try:
            while data := client.recv(65536):
                self._received(client)
                buffer += data
                for name, raw in _commands(buffer):
                    if not self._forwards(client, name):
                        return
                    server.sendall(raw)
        except OSError:
            pass
        finally:
            self._hang_up(client, server)

    # What the proxies that build on this one change: each sees the traffic through these.
    def _received(self, client: socket.socket) -> None:
        """`client` sent bytes (a command, a pipeline, or part of one)."""

    def _answered(self, client: socket.socket) -> None:
        """Redis sent `client` bytes (an answer, or part of one)."""

    def _forwards(self, client: socket.socket, name: bytes) -> bool:
        """Whether the command `name`, next on `client`'s connection, goes on to Redis (False hangs up)."""
        if name in COMMITS:
            self._stage()
        return True

    def _hang_up(self, client: socket.socket, server: socket.socket) -> None:
        server.close()

    def _stage(self) -> None:
        with self._lock:
            action, self._action = self._action, None
        if action is not None:
            try:
                action()
            except BaseException as error:  # the test reports it; the client's command still goes on
                self.error = error
            self.fired.set()

    def close(self) -> None:
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def racing_redis(redis_server):
    """A proxy to the test's real Redis that stages a race on request (see `RacingRedis`)."""
    proxy = RacingRedis(redis_server.url)
    yield proxy
    proxy.close()


# Commands that end a write's atomic step; after one of them only a script (re)load may follow.
ATOMIC_STEPS = {b"EXEC", b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"FCALL"}
SCRIPT_LOADING = {b"SCRIPT", b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"FCALL", b"FUNCTION"}


class CuttingRedis(RacingRedis):
    """Forwards every byte between a client and a real Redis, unchanged, until a connection has sent a
    write's atomic step (EXEC, EVAL, EVALSHA...): at the next command on that connection, other than
    loading or running a script again (after NOSCRIPT), it hangs up on the client without forwarding
    it. Redis went away right after the write landed; `cut` is set once that has happened."""

    def __init__(self, target: str) -> None:
        self.cut = threading.Event()
        self._stepped: set[int] = set()  # connections (by client socket) that have sent an atomic step
        super().__init__(target)

    def _forwards(self, client: socket.socket, name: bytes) -> bool:
        if id(client) in self._stepped and name not in SCRIPT_LOADING:
            self.cut.set()
            return False
        if name in ATOMIC_STEPS:
            self._stepped.add(id(client))
        return True

    def _hang_up(self, client: socket.socket, server: socket.socket) -> None:
        for sock in (server, client):  # the client sees the connection close, as when Redis dies
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.close()


@pytest.fixture
def cutting_redis(redis_server):
    """A proxy to the test's real Redis that hangs up right after a write's atomic step (see `CuttingRedis`)."""
    proxy = CuttingRedis(redis_server.url)
    yield proxy
    proxy.close()


# Commands a client sends on its own to set up or check a connection, never to answer a read.
CONNECTION_SETUP = {b"CLIENT", b"SELECT", b"HELLO", b"AUTH", b"PING", b"READONLY", b"ECHO"}


class CountingRedis(RacingRedis):
    """Forwards every byte between a client and a real Redis, unchanged, and counts round trips: a round
    trip is what a client sends before it hears back (one command, or a whole pipeline sent at once), and
    only those holding a command other than connection set-up (CLIENT SETINFO, SELECT, HELLO, PING...)
    count. `reset()` starts counting afresh; `round_trips()` is the count since."""

    def __init__(self, target: str) -> None:
        self._heard: set[int] = set()  # connections (by client socket) Redis has answered since their last send
        self._counted: set[int] = set()  # connections whose round trip under way is counted
        self._trips = 0
        self._count_lock = threading.Lock()
        super().__init__(target)

    def reset(self) -> None:
        with self._count_lock:
            self._trips = 0

    def round_trips(self) -> int:
        with self._count_lock:
            return self._trips

    def _answered(self, client: socket.socket) -> None:
        self._heard.add(id(client))

    def _received(self, client: socket.socket) -> None:
        if id(client) in self._heard:  # Redis answered: this send begins a new round trip
            self._heard.discard(id(client))
            self._counted.discard(id(client))

    def _forwards(self, client: socket.socket, name: bytes) -> bool:
        if name not in CONNECTION_SETUP and id(client) not in self._counted:
            self._counted.add(id(client))
            with self._count_lock:
                self._trips += 1
        return True


@pytest.fixture
def counting_redis(redis_server):
    """A proxy to the test's real Redis that counts the round trips its clients make (see `CountingRedis`)."""
    proxy = CountingRedis(redis_server.url)
    yield proxy
    proxy.close()
