"""A real HTTP server on loopback whose behaviour a test controls.

Days 05, 06, 11 and 13 probe model servers; their tests need a server that can be
healthy, failing or slow on demand, answering over a real socket (not a mock), so
timeouts, refused connections and status codes behave as they do in production.
It speaks the day-03 contract: `GET /health`, `GET /ready`, `POST /predict`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

MODES = ("healthy", "failing", "slow", "not_ready", "redirect")


class Received(NamedTuple):
    """One request as the server saw it; `body` is parsed JSON, or the raw bytes if not JSON."""

    method: str
    path: str
    content_type: str
    body: Any
    at: float  # time.time() when it arrived


@dataclass
class Behaviour:
    mode: str = "healthy"
    delay_s: float = 0.0  # added to every answer; `slow` mode uses it on every route
    status: int = 500  # what `failing` answers with
    model_version: str = "test-1"
    received: list[Received] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)  # a mode per coming request; the last one repeats


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format, *args):  # keep test output clean
        return

    def _answer(self, status: int, body: dict, location: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        behaviour = self.server.behaviour
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        behaviour.received.append(Received(method, self.path, self.headers.get("Content-Type", ""), body, time.time()))
        if behaviour.plan:
            behaviour.mode = behaviour.plan[min(len(behaviour.received), len(behaviour.plan)) - 1]
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        if behaviour.mode == "failing":
            self._answer(behaviour.status, {"error": "failing on purpose"})
        elif behaviour.mode == "redirect":
            # A proxy in front of a dead service: every route sends the client to a login page answering 200.
            if self.path == "/login":
                self._answer(200, {"page": "please log in"})
            else:
                self._answer(302, {"error": "log in first"}, location="/login")
        elif self.path == "/health":
            self._answer(200, {"status": "ok", "model_version": behaviour.model_version})
        elif self.path == "/ready":
            ready = behaviour.mode != "not_ready"
            self._answer(200 if ready else 503, {"ready": ready})
        elif self.path == "/predict" and method == "POST":
            self._answer(200, {"predictions": [0], "model_version": behaviour.model_version})
        else:
            self._answer(404, {"error": f"no route {method} {self.path}"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour


PRIVATE_PORT_TRIES = 200
LOWEST_PRIVATE_PORT = 10000


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bind_private(behaviour: Behaviour) -> _Server:
    """A server on a port below the kernel's ephemeral range, where no other test looks.

    Tests count the requests a controlled server receives. Tests running beside them probe ports
    that `free_port()` found free ("nothing listens there"); those come from the ephemeral range,
    and the kernel can give the same port to the next server bound to port 0 while a prober still
    knocks: its knocks would count as the learner's requests. Port 0 only if no private port is free."""
    server = None
    for port in random.sample(range(LOWEST_PRIVATE_PORT, min(_first_ephemeral_port(), 32768)), PRIVATE_PORT_TRIES):
        try:
            server = _Server(("127.0.0.1", port), _Handler)
            break
        except OSError:  # taken by another test or service: try another
            continue
    server = server or _Server(("127.0.0.1", 0), _Handler)
    server.behaviour = behaviour
    return server


class ControlledServer:
    """`with ControlledServer() as server:` serves on 127.0.0.1 at `server.url` until the block ends."""

    def __init__(self, mode: str = "healthy", delay_s: float = 0.0) -> None:
        self.behaviour = Behaviour()
        self.set(mode, delay_s)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def set(self, mode: str, delay_s: float | None = None, status: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.behaviour.mode = mode
        if delay_s is not None:
            self.behaviour.delay_s = delay_s
        if status is not None:
            self.behaviour.status = status

    def follow(self, plan: list[str]) -> None:
        """Answer the next requests in these modes, one each; the last mode then stays."""
        unknown = [mode for mode in plan if mode not in MODES]
        if unknown:
            raise ValueError(f"modes must be among {MODES}, not {unknown}")
        self.behaviour.plan = list(plan)
        self.behaviour.received.clear()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far."""
        return [(r.method, r.path) for r in self.behaviour.received]

    @property
    def received(self) -> list[Received]:
        return self.behaviour.received

    def __enter__(self) -> "ControlledServer":
        self._server = _bind_private(self.behaviour)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="controlled-http-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nobody listens on right now (for 'connection refused' cases)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
