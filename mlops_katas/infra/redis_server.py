"""A real `redis-server` on loopback for the redis tier (Debian's `redis-server` package).

Each test gets its own server: nothing persists (`--save ''`, no AOF), so no state is
shared between tests, and it starts in milliseconds. `RedisServer` is a `LocalServer`:
labelled, bounded waits, stopped at the end and reaped after a killed run.
"""

from __future__ import annotations

import socket

from ..tools import find_tool
from .local_server import LocalServer

INSTALL_HINT = "install Debian's redis-server package (apt-get install redis-server); 'katas doctor'"


def probe() -> str | None:
    """None when `redis-server` can be started here, else why not and how to get it."""
    if find_tool("redis-server") is None:
        return f"redis-server not found; {INSTALL_HINT}"
    return None


class RedisServer(LocalServer):
    """`with RedisServer() as redis:` serves on `redis.host:redis.port`; `redis.url` for clients."""

    kind = "redis"
    ready_wait_s = 20.0

    def command(self, port: int) -> list[str]:
        return [find_tool("redis-server") or "redis-server",
                "--bind", self.host, "--port", str(port), "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--protected-mode", "yes", "--logfile", ""]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False
