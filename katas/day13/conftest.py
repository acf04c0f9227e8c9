"""Day 13 fixtures: containers that fail on purpose (the harness's stand-in server), a stand-in metrics store."""

from __future__ import annotations

import contextlib
import http.server
import time
import uuid

import pytest


class RecordedLatency:
    """Answers like the day-11 monitor's `get_recent_metrics`, from fixed samples.

    `values` were recorded in the last minute, one a second; `older` holds (hours ago, value) pairs.
    Every row is returned only when it falls inside the `hours` asked for, as the real store does
    (so `hours=0` reads nothing).
    """

    def __init__(self, values: list[float], older: list[tuple[float, float]] = ()) -> None:
        self.values = values
        self.older = list(older)
        self.asked: list[str] = []

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        self.asked.append(name)
        if name != "latency_ms":
            return []
        now = time.time()
        rows = [{"timestamp": now - i, "value": v} for i, v in enumerate(self.values) if i < hours * 3600]
        rows += [{"timestamp": now - age * 3600, "value": v} for age, v in self.older if age < hours]
        return rows


class UnreadableStore:
    """A day-11 store whose database cannot be read: `get_recent_metrics` raises as sqlite3 does then."""

    def get_recent_metrics(self, name: str, hours: float = 24) -> list[dict]:
        import sqlite3

        raise sqlite3.OperationalError("unable to open database file")


@pytest.fixture
def recorded_latency():
    return RecordedLatency


@pytest.fixture
def unreadable_store():
    return UnreadableStore()


@contextlib.contextmanager
def _server_answering(answer: bytes | None, then: tuple[float, bytes] = (0.0, b"")):
    """URL of a local server that reads each request, sends `answer` whatever was asked, waits `then[0]` seconds,
    sends `then[1]`, and closes; with `answer=None` it resets the connection (RST) instead of answering."""
    import socket
    import struct
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    if answer is None:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
                    else:
                        conn.sendall(answer)
                        if then[1]:
                            stop.wait(then[0])
                            conn.sendall(then[1])
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest.fixture
def broken_http_server():
    """URL of a server that sends `200 OK` headers promising 100 bytes, then closes after 9 (a crashing worker)."""
    with _server_answering(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                           b'{"status"') as url:
        yield url


@pytest.fixture
def slow_body_server():
    """URL of a server that sends `200 OK` headers at once and its 15-byte body 0.6 s later (a worker that
    answers before it has computed what it reports)."""
    body = b'{"status":"ok"}'
    with _server_answering(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                           % len(body), then=(0.6, body)) as url:
        yield url


@pytest.fixture
def undecodable_body_server():
    """URL of a server that answers `200 OK` with `Content-Encoding: gzip` and a body that is not gzip (a worker
    that crashed while compressing), then closes."""
    body = b"this body is not gzip"
    with _server_answering(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body) as url:
        yield url


@pytest.fixture
def resetting_server():
    """URL of a server whose worker dies on each request: it reads the request, then resets the connection (RST)
    without answering."""
    with _server_answering(None) as url:
        yield url


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in server's handler: it logs nothing and answers whole bodies with their length."""

    def _answer(self, status: int, body: bytes = b"", content_type: str | None = "application/json",
                headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def _handler_servers():
    """serve(handler) -> the port of a ThreadingHTTPServer on loopback answering with that handler class; every
    server started is stopped on leaving the block."""
    import threading

    servers = []

    def serve(handler) -> int:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    try:
        yield serve
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def redirecting_server():
    """start(status) -> (url, paths): a proxy in front of a dead service that answers every GET but /login with
    `status` and `Location: /login`, and /login with 200; `paths` lists the paths it was asked for. Stopped after
    the test."""
    def start(status: int):
        paths: list[str] = []

        class Handler(_QuietHandler):
            def do_GET(self):
                paths.append(self.path)
                if self.path == "/login":
                    self._answer(200, content_type=None)
                else:
                    self._answer(status, content_type=None, headers={"Location": "/login"})

        return f"http://127.0.0.1:{serve(Handler)}", paths

    with _handler_servers() as serve:
        yield start


@pytest.fixture
def non_http_server():
    """URL of a port where another kind of server listens (Redis, say): it reads the request, answers one line
    that is not HTTP (`-ERR unknown command`) and closes."""
    with _server_answering(b"-ERR unknown command 'GET', with args beginning with: '/health'\r\n") as url:
        yield url


def _fixed_answer_server(name: str, answer: bytes, doc: str):
    """A fixture, `name`, yielding the URL of a server that answers every request with `answer` and closes."""
    def fixture():
        with _server_answering(answer) as url:
            yield url

    fixture.__doc__ = doc
    return pytest.fixture(fixture, name=name)


http2_status_line_server = _fixed_answer_server(
    "http2_status_line_server", b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
    "URL of a server that answers with the status line `HTTP/2 200 OK`, a protocol version an HTTP/1.1 client "
    "cannot read (http.client raises UnknownProtocol), then closes.")
overlong_header_server = _fixed_answer_server(
    "overlong_header_server",
    b"HTTP/1.1 200 OK\r\nX-Trace: " + b"a" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n",
    "URL of a server that answers `200 OK` with a header line over 64 KiB (http.client raises LineTooLong), then "
    "closes.")
too_many_headers_server = _fixed_answer_server(
    "too_many_headers_server",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Header-%d: 1\r\n" % i for i in range(120))
    + b"Content-Length: 0\r\n\r\n",
    "URL of a server that answers `200 OK` with 120 header lines (http.client refuses more than 100 with an "
    "HTTPException), then closes.")


@pytest.fixture
def unanswered_connect():
    """URL of a port whose connection queue is full: a new connection is never accepted (its SYN goes
    unanswered), as with a firewall that drops packets or a server too busy to accept."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the accept queue; the listener never accepts
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.fixture
def faulty_container(request, docker_client, standin_image):
    """Start the stand-in server in a failure mode without waiting for it to answer (it may never); removed after the test.

    Returns (container, url): the container publishes port 8000 on a fixed loopback
    port, so the URL stays the same while Docker restarts it.
    """
    from mlops_katas.infra import containers, docker_engine
    from mlops_katas.infra.docker_fixtures import attach_container_logs
    from mlops_katas.infra.http_server import free_port

    started = []

    def start(fault: str, **run_kwargs):
        port = free_port()
        container = docker_client.containers.run(
            standin_image, detach=True, name=f"katas-day13-{fault}-{uuid.uuid4().hex[:8]}",
            environment={"APP_MODE": fault}, labels=docker_engine.run_labels(request.node.nodeid),
            ports={"8000/tcp": ("127.0.0.1", port)}, **run_kwargs)
        started.append(container)
        url = f"http://127.0.0.1:{port}"
        attach_container_logs(request.node, containers.RunningContainer(container, port, url))
        return container, url

    yield start
    for container in started:
        containers.remove(container)


def wait_for_state(container, done, what: str, timeout_s: float = 30.0) -> dict:
    """Poll `docker inspect` until done(attrs) holds; fail the test with the last state after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        container.reload()
        if done(container.attrs):
            return container.attrs
        if time.monotonic() > deadline:
            pytest.fail(f"the container never {what} within {timeout_s:g} s; last state: "
                        f"{container.attrs.get('State')}, restarts {container.attrs.get('RestartCount')}")
        time.sleep(0.2)


@pytest.fixture
def wait_until():
    return wait_for_state


@pytest.fixture
def docker_api_with_one_container():
    """start(name, stdout, stderr, logs_status=200, logged_hours_ago=0.0) -> base_url of a stand-in Docker daemon that
    knows one stopped container, `name`: it answers `docker inspect` of it (by name or full id) and its logs, as
    dockerd frames them for a container without a TTY (the bytes exactly as the program wrote them, one frame per
    line, stdout's lines before stderr's), honouring `?tail=` as the Engine API does (the last N lines, `0` none,
    `all` or no tail every line) and then `?since=` as dockerd does (a Unix time, `seconds[.fraction]`: lines
    written before it are left out; `0` or none keeps every line), and 404 for anything else. Every line was
    written `logged_hours_ago` hours before `start` was called (the container stopped then). With another
    `logs_status` it answers the inspect but refuses the logs with that HTTP error, as dockerd does when it cannot
    read them (`{"message": ...}`, so docker-py raises its APIError). Stopped after the test."""
    import json
    import re
    import struct

    def start(name: str, stdout: bytes = b"", stderr: bytes = b"", logs_status: int = 200,
              logged_hours_ago: float = 0.0) -> str:
        written_at = time.time() - logged_hours_ago * 3600.0
        attrs = {"Id": "c0ffee" * 10 + "c0ff", "Name": f"/{name}", "Image": "sha256:" + "0" * 64,
                 "Config": {"Tty": False, "Image": "stand-in"},
                 "State": {"Status": "exited", "Running": False, "Paused": False, "Restarting": False,
                           "OOMKilled": False, "Dead": False, "ExitCode": 3, "Error": ""},
                 "RestartCount": 0, "HostConfig": {"RestartPolicy": {"Name": "no"}}}
        lines = [(stream, line) for stream, data in ((1, stdout), (2, stderr))  # a line ends at b"\n" only
                 for line in re.findall(rb"[^\n]*\n|[^\n]+\Z", data)]

        def frames(tail: str, since: float) -> bytes:
            # dockerd reads tail as a number of lines from the end; "all", a missing or unreadable one means all
            try:
                count = int(tail)
            except ValueError:
                count = -1
            kept = lines if count < 0 else lines[max(len(lines) - count, 0):]
            if written_at < since:  # dockerd takes the tail first, then skips the lines written before `since`
                kept = []
            return b"".join(struct.pack(">BxxxL", stream, len(line)) + line for stream, line in kept)

        known = {f"/containers/{key}/{what}" for key in (name, attrs["Id"]) for what in ("json", "logs")}

        class Handler(_QuietHandler):
            def do_GET(self):
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(self.path)
                path = parts.path
                query = parse_qs(parts.query)
                tail = query.get("tail", ["all"])[0]
                route = "/" + path.split("/", 2)[2] if path.startswith("/v1.") else path
                try:  # dockerd parses since as seconds[.nanoseconds] since the epoch and refuses anything else
                    since = float(query.get("since", ["0"])[0])
                except ValueError:
                    since = None
                if route in known and route.endswith("/json"):
                    self._answer(200, json.dumps(attrs).encode())
                elif route in known and logs_status != 200:
                    self._answer(logs_status, json.dumps({"message": f"stand-in daemon cannot read the logs: "
                                                                     f"error {logs_status}"}).encode())
                elif route in known and since is None:
                    self._answer(400, json.dumps({"message": f"invalid value for since: {query['since'][0]}"})
                                 .encode())
                elif route in known:
                    self._answer(200, frames(tail, since), "application/vnd.docker.raw-stream")
                else:
                    self._answer(404, json.dumps({"message": f"No such container: {route}"}).encode())

        return f"tcp://127.0.0.1:{serve(Handler)}"

    with _handler_servers() as serve:
        yield start


@pytest.fixture
def failing_docker_api():
    """start(status, knows_version=False) -> base_url of a stand-in Docker daemon answering every request with that
    HTTP error.

    The body is what dockerd sends with an error, `{"message": ...}`, so docker-py raises its
    APIError (a 404 is NotFound). With knows_version it answers `GET /version` as dockerd does
    (so `docker.from_env()` can learn the API version) and every other request with the error.
    Stopped after the test.
    """
    import json

    def start(status: int, knows_version: bool = False) -> str:
        class Handler(_QuietHandler):
            def _fail(self):
                if knows_version and self.command == "GET" and self.path.split("?")[0].endswith("/version"):
                    answer, body = 200, json.dumps({"ApiVersion": "1.41", "MinAPIVersion": "1.12",
                                                    "Version": "stand-in"}).encode()
                else:
                    answer, body = status, json.dumps({"message": f"stand-in daemon error {status}"}).encode()
                self._answer(answer, body)

            do_GET = do_POST = do_HEAD = do_DELETE = _fail

        return f"tcp://127.0.0.1:{serve(Handler)}"

    with _handler_servers() as serve:
        yield start


@pytest.fixture
def keep_alive_server():
    """start(status, delay_s=0.0) -> (url, still_open): a server speaking HTTP/1.1 keep-alive, that answers every GET
    with `status` after `delay_s` seconds and then keeps the connection open for the next request, until the client
    closes it. still_open(within_s) waits up to within_s seconds for the clients to close every connection and returns
    how many are still open. Stopped after the test (a connection a client never closes does not hold it up)."""
    import threading

    stop = threading.Event()
    changed = threading.Condition()

    def start(status: int, delay_s: float = 0.0):
        open_now = [0]

        class KeepAlive(_QuietHandler):
            protocol_version = "HTTP/1.1"  # the connection stays open after an answer: closing it is the client's job

            def handle(self):
                with changed:
                    open_now[0] += 1
                try:
                    super().handle()  # answers request after request until the client closes the connection
                except OSError:
                    pass  # the client went away while the answer was being written
                finally:
                    with changed:
                        open_now[0] -= 1
                        changed.notify_all()

            def do_GET(self):
                if delay_s:
                    stop.wait(delay_s)
                self._answer(status, b'{"status": "ok"}')

        def still_open(within_s: float) -> int:
            with changed:
                changed.wait_for(lambda: open_now[0] == 0, timeout=within_s)
                return open_now[0]

        return f"http://127.0.0.1:{serve(KeepAlive)}", still_open

    with _handler_servers() as serve:
        yield start
        stop.set()
